"""Shared layers (src/models/layers.py): make_divisible and the hard sigmoid."""
import mindspore as ms
import numpy as np

from src.models.layers import HardSigmoid, make_divisible


def test_make_divisible_matches_official_rule():
    assert make_divisible(16 * 0.5, 4) == 8
    assert make_divisible(72 * 1.3, 4) == 92      # 93.6 -> 92
    assert make_divisible(24 * 1.3, 4) == 32      # 31.2 -> 32
    assert make_divisible(10, 8) == 16            # 8 would lose more than 10%: add a divisor
    assert make_divisible(3, 8) == 8              # never below the divisor


def test_hard_sigmoid_is_relu6_form():
    x = np.linspace(-5, 5, 41).astype(np.float32)
    y = HardSigmoid()(ms.Tensor(x)).asnumpy()
    np.testing.assert_allclose(y, np.clip(x + 3, 0, 6) / 6, atol=1e-7)

"""Shared layers (src/models/layers.py): make_divisible, the hard sigmoid and ReLU6."""
import mindspore as ms
import numpy as np

import pytest
from mindspore import nn

from src.models.layers import HardSigmoid, create_act, make_divisible


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


class _Weighted(nn.Cell):
    """sum(act(x) * w): its gradient with respect to x is act'(x) * w."""

    def __init__(self, act, w):
        super().__init__()
        self.act = act
        self.w = w

    def construct(self, x):
        return (self.act(x) * self.w).sum()


@pytest.mark.parametrize("mode", [ms.PYNATIVE_MODE, ms.GRAPH_MODE])
def test_relu6_gradient_matches_mindspore_but_at_six(mode):
    x = np.array([-2, -0.0, 0.0, 1e-7, 3, 5.9999, 6.0, 6.0001, 9], np.float32)
    w = ms.Tensor(np.arange(1, 10, dtype=np.float32))
    ms.set_context(mode=mode)
    try:
        ours = ms.grad(_Weighted(create_act("relu6"), w))(ms.Tensor(x)).asnumpy()
        theirs = ms.grad(_Weighted(nn.ReLU6(), w))(ms.Tensor(x)).asnumpy()
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)
    np.testing.assert_array_equal(create_act("relu6")(ms.Tensor(x)).asnumpy(), np.clip(x, 0, 6))
    at_six = x == 6.0  # MindSpore's gradient passes x = 6, PyTorch's and ours do not
    np.testing.assert_array_equal(ours[~at_six], theirs[~at_six])
    assert ours[at_six] == 0


def test_relu6_backward_reads_only_the_output():
    """The ReLU6 of the networks (MobileNetV1) computes its gradient from the output alone, so a training graph
    need not keep the activation's input as well (docs/performance.md, Memory)."""
    act = create_act("relu6")
    x = np.array([-1, 2, 7], np.float32)
    out, dout = act(ms.Tensor(x)), ms.Tensor(np.ones(3, np.float32))
    assert hasattr(act, "bprop"), "ReLU6 without its own bprop: MindSpore's gradient reads the input"
    poisoned = ms.Tensor(np.full(3, np.nan, np.float32))  # the input is not read: NaN there changes nothing
    np.testing.assert_array_equal(act.bprop(poisoned, out, dout)[0].asnumpy(), [0, 1, 0])


def test_hard_sigmoid_folds_into_the_conv_before_it():
    """fold_hard_sigmoid (deploy_form): the squeeze-excite's conv takes weight / 6 and bias / 6 + 0.5 and the gate
    becomes clamp(., 0, 1), the same outputs within float32 rounding on gates that reach both clamps; a fold
    without the + 0.5 or without the clamp is far off. A sigmoid gate is left alone."""
    from src.models.fuse import fold_hard_sigmoid
    from src.models.layers import SqueezeExcite, UnitClamp
    ms.set_context(mode=ms.PYNATIVE_MODE)
    rng = np.random.default_rng(2)
    se = SqueezeExcite(16, 8)
    se.conv_reduce.weight.set_data(ms.Tensor(rng.standard_normal((8, 16, 1, 1)).astype(np.float32) * 0.5))
    se.conv_reduce.bias.set_data(ms.Tensor(np.zeros(8, np.float32)))
    se.conv_expand.weight.set_data(ms.Tensor(rng.standard_normal((16, 8, 1, 1)).astype(np.float32) * 6))
    se.conv_expand.bias.set_data(ms.Tensor(rng.uniform(-2, 2, 16).astype(np.float32)))
    se.set_train(False)
    x = ms.Tensor((rng.standard_normal((4, 16, 5, 5)) + 1).astype(np.float32))
    gate = se.gate(se.conv_expand(se.act1(se.conv_reduce(se.pool(x))))).asnumpy()
    assert (gate == 0).mean() > 0.1 and (gate == 1).mean() > 0.1 and ((gate > 0) & (gate < 1)).mean() > 0.1
    reference = se(x).asnumpy()
    bias = se.conv_expand.bias.asnumpy().copy()
    assert fold_hard_sigmoid(se) == 1 and isinstance(se.gate, UnitClamp)
    scale = np.abs(reference).max()
    assert np.abs(se(x).asnumpy() - reference).max() <= 1e-6 * scale
    assert fold_hard_sigmoid(se) == 0  # folded once
    se.conv_expand.bias.set_data(ms.Tensor((bias / 6).astype(np.float32)))
    assert np.abs(se(x).asnumpy() - reference).max() > 1e-2 * scale
    se.conv_expand.bias.set_data(ms.Tensor((bias / 6 + 0.5).astype(np.float32)))
    se.gate = nn.Identity()
    assert np.abs(se(x).asnumpy() - reference).max() > 1e-2 * scale
    assert fold_hard_sigmoid(SqueezeExcite(16, 8, gate="sigmoid")) == 0

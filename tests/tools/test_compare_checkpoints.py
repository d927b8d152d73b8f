"""compare_checkpoints (src/tools/compare_checkpoints.py) measures two runs' difference relative to the update."""
import numpy as np
import pytest

from src.tools.compare_checkpoints import compare


def test_checkpoint_comparison_is_relative_to_the_update():
    start = {"w": np.zeros(4), "bn.moving_mean": np.zeros(2)}
    a = {"w": np.array([1.0, 0, 0, 0]), "bn.moving_mean": np.ones(2)}
    b = {"w": np.array([1.0, 0.01, 0, 0]), "bn.moving_mean": np.ones(2) * 1.5}
    result = compare(a, b, start)
    assert result["relative_to_update"] == pytest.approx(0.01) and result["update_cosine"] == pytest.approx(1, 1e-3)
    assert result["max_abs_difference"] == pytest.approx(0.01)
    assert result["bn_statistics_max_abs_difference"] == pytest.approx(0.5)
    assert compare(a, a, start)["relative_to_update"] == 0.0
    with pytest.raises(ValueError, match="different parameters"):
        compare(a, {"w": a["w"]})
    with pytest.raises(ValueError, match="no update"):
        compare(start, a, start)

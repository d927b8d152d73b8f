"""The label-smoothing cross entropy (src/engine/loss.py) against NumPy."""
import mindspore as ms
import numpy as np
import pytest

from src.engine.loss import CrossEntropySmooth


def _numpy_loss(logits, target):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-(target * logp).sum(1).mean())


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_against_numpy(eps):
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((5, 7)) * 3).astype(np.float32)
    labels = np.array([0, 6, 3, 3, 1], np.int32)
    target = np.full((5, 7), eps / 7) + np.eye(7)[labels] * (1 - eps)
    got = float(CrossEntropySmooth(eps, 7)(ms.Tensor(logits), ms.Tensor(labels)).asnumpy())
    assert got == pytest.approx(_numpy_loss(logits, target), rel=1e-5)


def test_soft_targets_against_numpy():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((4, 5)).astype(np.float32)
    soft = rng.dirichlet(np.ones(5), 4).astype(np.float32)
    got = float(CrossEntropySmooth(0.1, 5)(ms.Tensor(logits), ms.Tensor(soft)).asnumpy())
    assert got == pytest.approx(_numpy_loss(logits, soft * 0.9 + 0.1 / 5), rel=1e-5)


def test_bad_smoothing_rejected():
    with pytest.raises(ValueError, match="label smoothing"):
        CrossEntropySmooth(1.0, 10)

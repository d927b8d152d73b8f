"""The loss against NumPy and the lr schedules against hand-computed values."""
import math

import numpy as np
import pytest
import mindspore as ms

from src.engine.loss import CrossEntropySmooth
from src.engine.scheduler import build_lr_schedule


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


def test_warmup_then_cosine():
    lr = build_lr_schedule(0.4, total_steps=10, warmup_steps=2, lr_init=0.1, lr_end=0.0, mode="cosine")
    assert lr[0] == pytest.approx(0.1) and lr[1] == pytest.approx(0.25)  # 0.1 + 0.3 * 1/2
    assert lr[2] == pytest.approx(0.4)
    assert lr[6] == pytest.approx(0.4 * (1 + math.cos(math.pi * 4 / 8)) / 2)  # = 0.2
    assert lr[9] == pytest.approx(0.4 * (1 + math.cos(math.pi * 7 / 8)) / 2, rel=1e-5)
    assert lr.dtype == np.float32 and len(lr) == 10


def test_linear_decay():
    lr = build_lr_schedule(0.8, total_steps=4, mode="linear", lr_end=0.0)
    np.testing.assert_allclose(lr, [0.8, 0.6, 0.4, 0.2], rtol=1e-6)


def test_poly_decay_with_warmup():
    lr = build_lr_schedule(0.1, total_steps=6, warmup_steps=2, lr_init=0.01, lr_end=0.0, mode="poly", power=2)
    np.testing.assert_allclose(lr, [0.01, 0.055, 0.1, 0.1 * 0.75 ** 2, 0.1 * 0.25, 0.1 * 0.0625], rtol=1e-6)


def test_steps_decay():
    lr = build_lr_schedule(1.0, total_steps=10, mode="steps")
    np.testing.assert_allclose(lr, [1, 1, 1, .1, .1, .1, .01, .01, .001, .001], rtol=1e-6)


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown lr decay mode 'cosin'"):
        build_lr_schedule(0.1, 10, mode="cosin")

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


def test_staircase_decay_every_fractional_period():
    """0.5 every 2.5 epochs of 2 steps (a period of 5 steps), after a 2-step warmup from 0.01; the staircase counts
    from the first step, warmup included (timm's step scheduler with warmup_prefix=False)."""
    lr = build_lr_schedule(0.4, total_steps=12, warmup_steps=2, lr_init=0.01, mode="staircase", decay_rate=0.5,
                           decay_period=2.5 * 2)
    np.testing.assert_allclose(lr, [0.01, 0.205, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1, 0.1], rtol=1e-6)


def test_staircase_of_the_ghostnetv2_recipe():
    """0.064 x 0.973 every 2.4 epochs: at 10 steps per epoch the period is exactly 24 steps (not 23.99...)."""
    from src.engine.scheduler import create_scheduler
    lr = create_scheduler(10, 48, lr_max=0.064, decay_mode="staircase", decay_rate=0.973, decay_epochs=2.4)
    assert len(lr) == 480
    assert lr[23] == pytest.approx(0.064) and lr[24] == pytest.approx(0.064 * 0.973)
    assert lr[479] == pytest.approx(0.064 * 0.973 ** 19, rel=1e-6)  # floor(479 / 24) = 19
    with pytest.raises(ValueError, match="staircase decay needs 0 < decay_rate <= 1"):
        build_lr_schedule(0.1, 10, mode="staircase", decay_rate=0.0, decay_period=3)


class _Linear(ms.nn.Cell):
    """loss = sum(w * x): the gradient of w is x, whatever w is."""

    def __init__(self, w):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.array(w, np.float32)), name="weight")

    def construct(self, x):
        return (self.weight * x).sum()


def _rmsprop_tf_reference(w, g, lrs, rho=0.9, beta=0.9, eps=1e-3, wd=0.0):
    """TensorFlow's RMSProp written out: mean square from 1, eps inside the root, lr inside the momentum."""
    w, s, m = np.array(w, np.float64), np.ones_like(w, np.float64), np.zeros_like(w, np.float64)
    for lr in lrs:
        grad = g + wd * w
        s = rho * s + (1 - rho) * grad ** 2
        m = beta * m + lr * grad / np.sqrt(s + eps)
        w = w - m
    return w


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_rmsproptf_against_hand_computed_steps(weight_decay):
    from src.engine.optim import create_optimizer
    ms.set_context(mode=ms.PYNATIVE_MODE)
    w0, g = [[1.0, -2.0], [0.5, 3.0]], np.array([[2.0, -1.0], [0.25, 0.0]], np.float32)
    lrs = [0.1, 0.05, 0.02]
    net = _Linear(w0)
    optimizer = create_optimizer(net, np.array(lrs), name="rmsproptf", momentum=0.9, weight_decay=weight_decay,
                                 filter_bias_and_bn=False, rmsprop_decay=0.9, rmsprop_eps=1e-3)
    step = ms.nn.TrainOneStepCell(net, optimizer)
    first = None
    for _ in lrs:
        step(ms.Tensor(g))
        first = net.weight.asnumpy().copy() if first is None else first
    if weight_decay == 0:
        # by hand, first step of w = 1 with g = 2: s = 0.9 + 0.1 * 4 = 1.3, m = 0.1 * 2 / sqrt(1.301) = 0.175344
        assert first[0, 0] == pytest.approx(1 - 0.175344, abs=1e-6)
        # PyTorch's RMSprop (s from 0, eps outside the root) would move it by 0.2 / (sqrt(0.4) + 1e-3) = 0.3157
    np.testing.assert_allclose(net.weight.asnumpy(), _rmsprop_tf_reference(w0, g, lrs, wd=weight_decay),
                               rtol=1e-5, atol=1e-6)


def test_rmsproptf_state_is_training_state():
    """Its state (mean_square., moment.) is recognised as optimizer state: kept out of network weights, resumed."""
    from src.engine.optim import OPTIMIZER_STATE_PREFIXES, create_optimizer
    from src.models.convert import TRAINING_STATE_PREFIXES
    optimizer = create_optimizer(_Linear([1.0]), np.array([0.1]), name="rmsproptf")
    state = [p.name for p in optimizer.get_parameters() if p.name.startswith(OPTIMIZER_STATE_PREFIXES)]
    assert sorted(state) == ["mean_square.weight", "moment.weight"]
    assert all(name.startswith(TRAINING_STATE_PREFIXES) for name in state)

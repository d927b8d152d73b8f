"""Optimizers (src/engine/optim.py): TensorFlow's RMSProp against hand-computed steps, its state kept as
training state, and the linear lr scaling for a global batch."""
import mindspore as ms
import numpy as np
import pytest

from tests.support import build_config
from src.engine.optim import linear_lr_scale
from src.errors import ConfigError


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


def test_global_batch_and_lr_scaling():
    scale, line = linear_lr_scale(128, 2, 1024, "none", 0.4)
    assert scale == 1.0
    assert "global batch 256 (128 per rank x 2 ranks)" in line and "would use 0.1" in line
    scale, line = linear_lr_scale(128, 2, 1024, "linear", 0.4)
    assert scale == 0.25 and "lr_max 0.4 -> 0.1" in line
    with pytest.raises(ConfigError, match="lr_scaling linear needs lr_reference_batch"):
        build_config(["--lr_scaling", "linear"])

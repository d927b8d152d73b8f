"""A short training of each network family in graph mode lowers the loss on a fixed batch."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.engine.loss import CrossEntropySmooth
from src.engine.optim import create_optimizer
from src.engine.scheduler import build_lr_schedule
from src.models import create_model

pytestmark = pytest.mark.slow

FAMILIES = ["ghostnet_600m", "mobilenet_v1_100", "genet_res50_theta_plus", "ghostnet_d_50"]


@pytest.mark.parametrize("name", FAMILIES)
def test_short_training_lowers_the_loss(name):
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(0)
    rng = np.random.default_rng(0)
    images = ms.Tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32))
    labels = ms.Tensor(np.arange(8, dtype=np.int32) % 5)
    net = create_model(name, num_classes=5, image_size=32, drop_rate=0.0)
    optimizer = create_optimizer(net, build_lr_schedule(0.01, 12, mode="constant"), weight_decay=1e-4)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, CrossEntropySmooth(0.0, 5)), optimizer)
    step.set_train()
    losses = [float(step(images, labels).asnumpy()) for _ in range(12)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses

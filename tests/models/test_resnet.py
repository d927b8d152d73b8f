"""The ResNet bottleneck (src/models/resnet.py) is the one GENet and GhostNet-D build on; GhostNet600 is the
GhostNet class with its own table."""
import mindspore as ms
import numpy as np
from mindspore import nn

from src.models import create_model


def test_one_ghostnet_class_one_bottleneck_class():
    """GhostNet600 is the GhostNet class with its own table; GENet and GhostNet-D use one ResNet bottleneck."""
    from src.models.ghostnet import GhostNet
    from src.models.resnet import Bottleneck
    assert type(create_model("ghostnet_600m")) is GhostNet
    for name in ("genet_res50_theta", "ghostnet_d_50"):
        cells = {type(c).__name__ for _, c in create_model(name).cells_and_names()}
        assert Bottleneck.__name__ in cells and not cells & {"GEBottleneck"}, name


class _Recorder(nn.Cell):
    """Runs `cell` and notes its name, to see the order of the stem's steps."""

    def __init__(self, cell, name, log):
        super().__init__()
        self.cell = cell
        self.name = name
        self.log = log

    def construct(self, x):
        self.log.append(self.name)
        return self.cell(x)


def test_stem_pads_before_the_relu():
    """The stem pads the BN output, then applies the ReLU, whose output is the max pool's input: a training graph
    keeps one tensor for both gradients, where padding after the ReLU kept the ReLU's output and the padded copy
    (docs/performance.md, Memory). The values are the same either way (relu(0) = 0)."""
    ms.set_context(mode=ms.PYNATIVE_MODE)  # the recorders note their calls as the Python code runs
    net = create_model("ghostnet_d_50")
    x = ms.Tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    reference = net.forward_stages(x).asnumpy()
    log = []
    net.pad = _Recorder(net.pad, "pad", log)
    net.relu = _Recorder(net.relu, "relu", log)
    out = net.forward_stages(x).asnumpy()
    assert log[:2] == ["pad", "relu"]
    np.testing.assert_array_equal(out, reference)

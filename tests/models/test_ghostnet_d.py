"""GhostNet-D (ResNet with G-Ghost stages): exact parameter counts, forward, backward, graph mode."""
import numpy as np
import pytest
import mindspore as ms
from mindspore import nn

from src.models.ghostnet_d import GGhostStage, GhostNetD
from src.models.registry import create_model

# Exact counts, forward, backward and reset_classifier are covered registry-wide in tests/models/test_registry.py.


def _count(net: nn.Cell) -> int:
    return int(sum(p.size for p in net.trainable_params()))


def _images(batch: int, size: int, seed: int = 0) -> ms.Tensor:
    return ms.Tensor(np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32))


def test_plain_resnet_counts_without_ghost_stages():
    # With no stage ghosted the network is torchvision's ResNet-50 / ResNet-101.
    assert _count(GhostNetD((3, 4, 6, 3), ghost_stages=())) == 25_557_032
    assert _count(GhostNetD((3, 4, 23, 3), ghost_stages=())) == 44_549_160


def test_every_stage_is_ghosted_with_one_by_one_convs_instead_of_slices():
    net = create_model("ghostnet_d_50")
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    assert all(isinstance(stage, GGhostStage) for stage in stages)
    assert [len(stage.layers) for stage in stages] == [1, 2, 4, 1]
    assert [(s.raw_channels, s.cheap_channels) for s in stages] == [(128, 128), (256, 256), (512, 512), (1024, 1024)]
    names = set(net.parameters_dict())
    for key in ("conv1.weight", "layer3.base.downsample.0.weight", "layer3.reduce.0.weight",
                "layer3.layers.3.conv3.weight", "layer3.merge.0.0.weight", "layer3.merge.1.1.gamma",
                "layer3.cheap.1.beta", "layer3.end.bn3.gamma", "classifier.weight"):
        assert key in names, key


def test_bad_arguments():
    with pytest.raises(ValueError, match="ghost_stages"):
        GhostNetD((3, 4, 6, 3), ghost_stages=(5,))
    with pytest.raises(ValueError, match="at least 3 blocks"):
        GhostNetD((2, 4, 6, 3), ghost_stages=(1,))


def test_graph_mode_forward():
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        net = create_model("ghostnet_d_50", num_classes=7)
        net.set_train(False)
        logits = net(_images(2, 32)).asnumpy()
    finally:
        ms.set_context(mode=mode)
    assert logits.shape == (2, 7) and np.isfinite(logits).all()


def test_mix_is_tiled_to_the_map_before_the_sum(monkeypatch):
    """The pooled mix (N, C, 1, 1) is tiled to the cheap features' map before they are added: MindSpore's CPU Add
    with a broadcast operand ran ghostnet_d_101's inference with far more memory (docs/performance.md, Memory)."""
    import src.models.ghostnet_d as module
    ms.set_context(mode=ms.PYNATIVE_MODE)  # the spy records when the Python code runs, not in a compiled graph
    shapes = []
    real = module.expand_gate

    def spy(gate, x):
        shapes.append((gate.shape, x.shape))
        return real(gate, x)

    monkeypatch.setattr(module, "expand_gate", spy)
    stage = GGhostStage(64, 16, 3)
    out = stage(ms.Tensor(np.ones((2, 64, 8, 8), np.float32)))
    assert out.shape == (2, 64, 8, 8)
    assert shapes == [((2, 32, 1, 1), (2, 32, 8, 8))]

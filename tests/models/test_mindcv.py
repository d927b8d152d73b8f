"""MindCV's own checkpoints (written by mindcv 0.3.0 from its own networks) open through our path and give MindCV's
logits: GhostNet 0.5 / 1.0 / 1.3 (one name differs) and MobileNetV1 0.25-1.0 (`features.N` names, ReLU, 1001
classes). A mapping with two BatchNorm layers swapped must be caught."""
import numpy as np
import pytest

mindcv = pytest.importorskip("mindcv")
import mindspore as ms  # noqa: E402
from mindspore import nn, ops  # noqa: E402

from src.engine.checkpoint import load_opened, open_checkpoint  # noqa: E402
from src.models import create_model  # noqa: E402

SIZE = 64  # small input: the networks are fully convolutional up to the global pool

FAST = [("ghostnet_050", 1000), ("mobilenet_v1_025", 1001)]
SLOW = [("ghostnet_100", 1000), ("ghostnet_130", 1000), ("mobilenet_v1_050", 1001), ("mobilenet_v1_075", 1001),
        ("mobilenet_v1_100", 1001)]
CASES = FAST + [pytest.param(*case, marks=pytest.mark.slow) for case in SLOW]


def randomize_mindspore(net: nn.Cell, seed: int, calibration: np.ndarray) -> nn.Cell:
    """tests/support.randomize for a MindSpore network: He-normal conv / Dense weights, random biases, BN gamma in
    [0.5, 1.5] and beta in [-0.5, 0.5]; one train-mode forward with momentum 1 sets every BN's moving statistics to
    what that layer sees (activations stay O(1) through the depth), then each is perturbed so no BN is exact."""
    rng = np.random.default_rng(seed)
    bns = []
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.Conv2d, nn.Dense)):
            shape = cell.weight.shape
            fan_in = int(np.prod(shape[1:]))
            cell.weight.set_data(ms.Tensor(rng.normal(0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)))
            if cell.bias is not None:
                cell.bias.set_data(ms.Tensor(rng.uniform(-0.2, 0.2, cell.bias.shape).astype(np.float32)))
        elif isinstance(cell, nn.BatchNorm2d):
            n = cell.gamma.shape[0]
            cell.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, n).astype(np.float32)))
            cell.beta.set_data(ms.Tensor(rng.uniform(-0.5, 0.5, n).astype(np.float32)))
            cell.bn_train = ops.BatchNorm(is_training=True, epsilon=cell.eps, momentum=1.0)
            bns.append(cell)
    net.set_train(True)
    net(ms.Tensor(calibration))
    for cell in bns:
        std = np.sqrt(cell.moving_variance.asnumpy())
        mean = cell.moving_mean.asnumpy() + 0.2 * std * rng.uniform(-1, 1, std.shape)
        cell.moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        var = cell.moving_variance.asnumpy() * rng.uniform(0.7, 1.4, std.shape)
        cell.moving_variance.set_data(ms.Tensor(var.astype(np.float32)))
    net.set_train(False)
    return net


def mindcv_checkpoint(tmp_path, name: str, classes: int, seed: int = 0):
    """(path of a checkpoint MindCV writes for its `name`, images, MindCV's logits on them)."""
    rng = np.random.default_rng(seed + 100)
    calibration = rng.normal(0, 1, (4, 3, SIZE, SIZE)).astype(np.float32)
    images = rng.normal(0, 1, (2, 3, SIZE, SIZE)).astype(np.float32)
    net = randomize_mindspore(mindcv.create_model(name, num_classes=classes), seed, calibration)
    reference = net(ms.Tensor(images)).asnumpy()
    path = str(tmp_path / f"{name}-0123abcd-910v2.ckpt")  # MindCV's naming, Atlas A2 suffix
    ms.save_checkpoint(net, path)
    return path, images, reference


def our_logits(path: str, images: np.ndarray, swap_bn: bool = False) -> np.ndarray:
    opened = open_checkpoint(path)
    if swap_bn:
        opened.params.update(_swapped_bn(opened.params))
    net = create_model(opened.model, num_classes=opened.num_classes, **opened.model_kwargs)
    load_opened(net, opened)
    net.set_train(False)
    return net(ms.Tensor(images)).asnumpy()


def _swapped_bn(params):
    """Two BatchNorm layers of the same width with their four tensors exchanged (a wrong mapping)."""
    by_width = {}
    for name in params:
        if name.endswith(".gamma"):
            by_width.setdefault(params[name].shape, []).append(name[:-len(".gamma")])
    a, b = next(prefixes for prefixes in by_width.values() if len(prefixes) >= 2)[:2]
    out = {}
    for leaf in ("gamma", "beta", "moving_mean", "moving_variance"):
        out[f"{a}.{leaf}"] = ms.Parameter(params[f"{b}.{leaf}"].asnumpy(), name=f"{a}.{leaf}")
        out[f"{b}.{leaf}"] = ms.Parameter(params[f"{a}.{leaf}"].asnumpy(), name=f"{b}.{leaf}")
    return out


@pytest.mark.parametrize("name,classes", CASES)
def test_mindcv_checkpoint_gives_mindcv_logits(tmp_path, name, classes):
    path, images, reference = mindcv_checkpoint(tmp_path, name, classes)
    opened = open_checkpoint(path)
    assert opened.model == name and opened.num_classes == classes
    assert "MindCV" in opened.how
    # MindCV's MobileNetV1 has ReLU where ours has ReLU6: its weights are loaded into a ReLU network
    assert opened.model_kwargs == ({"act": "relu"} if name.startswith("mobilenet") else {})
    ours = our_logits(path, images)
    scale = np.abs(reference).max()
    assert 0.1 < scale < 1e4  # calibrated: the comparison below is meaningful
    assert np.abs(ours - reference).max() <= 1e-4 * scale
    assert (ours.argmax(1) == reference.argmax(1)).all()


def test_swapped_batchnorm_is_caught(tmp_path):
    path, images, reference = mindcv_checkpoint(tmp_path, "ghostnet_050", 1000, seed=1)
    wrong = our_logits(path, images, swap_bn=True)
    assert np.abs(wrong - reference).max() > 1e-2 * np.abs(reference).max()


"""What the tests share: writers of small data sets in their real formats (JPEG class folders, CIFAR-10 binary
batches), the shell launchers, checkpoints in the MindSpore model zoo's layout, a re-parameterisable network with
perturbed BatchNorm statistics, a sample run history and train.log, checks of drawn pictures, and the PyTorch side
of comparisons with timm (random, well-conditioned weights with calibrated BatchNorm statistics; PyTorch is
imported only by the functions that need it)."""
import json
import math
import os
import re
import subprocess
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # PyTorch is imported by the functions that use it
    import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CI (.ci/run sets CI=true) installs every tool these tests need: there a missing tool must fail, not skip
ON_CI = bool(os.environ.get("CI"))

# ---- which widths the whole-network numerical checks run on ----

# GHOSTZOO_TEST_WIDTHS=all runs the whole-network numerical checks (export parity, BatchNorm folding,
# re-parameterisation) on every registered width, not one per architecture.
EVERY_WIDTH = os.environ.get("GHOSTZOO_TEST_WIDTHS", "") == "all"
if os.environ.get("GHOSTZOO_TEST_WIDTHS", "") not in ("", "all"):  # a typo must not quietly run the subset
    raise ValueError(f"GHOSTZOO_TEST_WIDTHS is '{os.environ['GHOSTZOO_TEST_WIDTHS']}'; expected 'all' or unset")


def architecture(name: str) -> str:
    """The architecture a registered name builds: the name without its width or depth suffix (ghostnet_130 ->
    ghostnet, ghostnet_d_101 -> ghostnet_d); names without a numeric suffix (ghostnet_600m, genet_res50_theta_plus)
    are their own architecture."""
    match = re.fullmatch(r"(.+)_(\d+)", name)
    return match.group(1) if match else name


def one_per_architecture(names):
    """`names` cut to the narrowest width (or shallowest depth) of each architecture, in their order; every name
    when GHOSTZOO_TEST_WIDTHS=all. Widths of one architecture run the same code with other channel counts: the
    per-width structure is checked by the cheap tests of every name (parameter counts against the published ones,
    MACs, a gradient for every parameter), the numerics once per architecture."""
    if EVERY_WIDTH:
        return list(names)
    chosen = {}
    for name in names:
        arch = architecture(name)
        suffix = name[len(arch) + 1:]
        if arch not in chosen or (suffix and int(suffix) < int(chosen[arch][len(arch) + 1:])):
            chosen[arch] = name
    return [name for name in names if name in chosen.values()]


# ---- data sets in their on-disk formats ----

def write_image_folder(root: str, rng, classes: int = 3, per_class: int = 4, size: int = 40) -> str:
    for c in range(classes):
        folder = os.path.join(root, f"class_{c}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"img_{i}.jpg"))
    return root


def cifar_records(rng, count: int):
    """(labels, images HWC uint8, raw bytes) for `count` CIFAR-10 records."""
    labels = rng.integers(0, 10, count).astype(np.uint8)
    images = rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
    chw = images.transpose(0, 3, 1, 2).reshape(count, -1)  # R plane, then G, then B
    raw = np.concatenate([labels[:, None], chw], axis=1).astype(np.uint8).tobytes()
    return labels, images, raw


def write_cifar10_bin(root: str, rng, train_records: int = 16, test_records: int = 21) -> str:
    os.makedirs(root, exist_ok=True)
    for i in range(1, 6):
        _, _, raw = cifar_records(rng, train_records)
        with open(os.path.join(root, f"data_batch_{i}.bin"), "wb") as f:
            f.write(raw)
    _, _, raw = cifar_records(rng, test_records)
    with open(os.path.join(root, "test_batch.bin"), "wb") as f:
        f.write(raw)
    with open(os.path.join(root, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                           "truck"]) + "\n")
    return root


# The quickstart recipe (ghostnet_050 at 48x48) on the 4-class generated folder of the `synthetic_root` fixture,
# without its prediction grid (the tests that want one ask for it).
TINY = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--num_classes", "4", "--dataset", "imagenet",
        "--log_interval", "0", "--image_check", "decode", "--prediction_grid", "0"]

# The training machinery's tests (resumes, kills, signals, output folders, seeds, summaries) train the smallest
# network, whose graphs compile in about a third of ghostnet_050's time (the 2-epoch TINY run: 10 s against 26 s);
# GhostNet still trains end to end in the `trained` fixture, the scripts' tests and the networks' own tests.
FAST = "mobilenet_v1_025"
TINY_FAST = TINY + ["--model", FAST]


# ---- launchers and small files ----

SCRIPTS = os.path.join(ROOT, "scripts")
DEVICE_IPS = [f"192.168.10{i}.1" for i in range(8)]


def run_script(script, *args, cwd=None, env=None, timeout=600):
    """Run scripts/`script` with bash; `env` adds to the current environment."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(["bash", os.path.join(SCRIPTS, script), *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def write_json(path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def make_loader(root, split="train", *, dataset="imagenet", image_size=32, eval_resize=0, batch_size=4,
                num_classes=3, image_check="structure", num_parallel_workers=1, seed=0, mean=None, std=None,
                num_shards=1, shard_id=0, epoch=0, record=None, **augmentation):
    """The loader train.py / eval.py build for `split` of the data at `root`, from explicit values."""
    from src.data import Augmentation, check_class_count, create_split_loader, open_split
    from src.data.preprocessing import CIFAR10_MEAN, CIFAR10_STD, Preprocessing
    from src.models.registry import IMAGENET_MEAN, IMAGENET_STD
    training = split == "train"
    source = open_split(root, split, dataset, image_check, training=training)
    check_class_count(source, num_classes)
    cifar = dataset == "cifar10"
    preprocessing = Preprocessing(image_size, eval_resize or image_size, "bilinear",
                                  tuple(mean or (CIFAR10_MEAN if cifar else IMAGENET_MEAN)),
                                  tuple(std or (CIFAR10_STD if cifar else IMAGENET_STD)))
    return create_split_loader(source, preprocessing, training=training, batch_size=batch_size,
                               augmentation=Augmentation(**augmentation), num_classes=num_classes,
                               num_shards=num_shards, shard_id=shard_id, seed=seed, epoch=epoch, record=record,
                               num_parallel_workers=num_parallel_workers)


def tensor_entries(path) -> dict:
    """The tensor entries of a checkpoint as NumPy arrays (the string entry of the model record left out)."""
    import mindspore as ms
    return {k: v.asnumpy() for k, v in ms.load_checkpoint(str(path)).items() if not isinstance(v, str)}


# ---- model-zoo checkpoints ----
# The zoo's names are produced here by an inverse mapping written independently of the tool (our name -> zoo
# name), and each family also asserts literal zoo names and shapes read from the zoo's source
# (mindspore-ai/models: research/cv/ghostnet/src/ghostnet.py and ghostnet600.py, research/cv/GENet_Res50/src/
# GENet.py and GEBlock.py, official/cv/MobileNet/mobilenetv1/src/mobilenet_v1.py), so the mapping is not only
# tested against itself.

GHOST_UNIT = [  # ours (inside a bottleneck) -> the zoo's ConvUnit names
    ("primary_conv.0.weight", "primary_conv.conv.weight"), ("primary_conv.1.", "primary_conv.bn."),
    ("cheap_operation.0.weight", "cheap_operation.conv.weight"), ("cheap_operation.1.", "cheap_operation.bn."),
    ("conv_dw.weight", "dw.conv.weight"), ("bn_dw.", "dw.bn."),
    ("shortcut.0.weight", "shortcut.0.conv.weight"), ("shortcut.1.", "shortcut.0.bn."),
    ("shortcut.2.weight", "shortcut.1.conv.weight"), ("shortcut.3.", "shortcut.1.bn."),
]


def _ghost_inner(rest):
    for ours, zoo in GHOST_UNIT:
        if ours in rest:
            return rest.replace(ours, zoo)
    return rest  # ghost modules' own names, se.conv_reduce / se.conv_expand


def zoo_ghostnet_name(name):
    """GhostNet 1x / nose: our 9 stages (1,1,1,1,1,1,5,1,4) flatten to blocks.0..15; blocks.9.0 -> blocks.16."""
    offsets = np.cumsum([0, 1, 1, 1, 1, 1, 1, 5, 1, 4])
    m = re.match(r"blocks\.(\d+)\.(\d+)\.(.+)", name)
    if not m:
        return name
    s, j, rest = int(m.group(1)), int(m.group(2)), m.group(3)
    if s == 9:
        return "blocks.16." + rest.replace("bn1.", "bn.")
    return f"blocks.{offsets[s] + j}.{_ghost_inner(rest)}"


def zoo_ghostnet600_name(name):
    m = re.match(r"blocks\.(\d+)\.(.+)", name)
    if not m:
        return name
    i, rest = int(m.group(1)), m.group(2)
    return f"blocks.{i}." + (rest.replace("bn1.", "bn.") if i == 19 else _ghost_inner(rest))


def zoo_genet_name(name, ours_names):
    if name.startswith("classifier."):
        return name.replace("classifier.", "end_point.")
    m = re.match(r"(layer\d\.\d+)\.(.+)", name)
    if not m:
        return name
    block, rest = m.groups()
    for k in "123":
        rest = rest.replace(f"conv{k}.weight", f"conv{k}.conv.weight").replace(f"bn{k}.", f"conv{k}.batchnorm.")
    rest = rest.replace("downsample.0.weight", "down_layer.conv.weight")
    rest = rest.replace("downsample.1.", "down_layer.batchnorm.")
    rest = rest.replace("ge.mlp.", "mlpLayer.").replace("ge.down.", "downop.")
    g = re.match(r"ge\.gather\.(\d)\.(.+)", rest)
    if g:
        shift = 2 if f"{block}.ge.down.0.weight" in ours_names else 0
        rest = f"downop.{int(g.group(1)) + shift}.{g.group(2)}"
    return f"{block}.{rest}"


def zoo_mobilenet_name(name):
    offsets = np.cumsum([0, 1, 2, 2, 6, 2])
    if name.startswith("classifier."):
        return name.replace("classifier.", "fc.")
    if name.startswith("conv_stem."):
        return "network.0.0.weight"
    if name.startswith("bn1."):
        return "network.0.1." + name[4:]
    s, j, part, leaf = re.match(r"blocks\.(\d)\.(\d)\.(\w+)\.(\w+)", name).groups()
    k = offsets[int(s)] + int(j)
    unit = 2 * k + (1 if part in ("conv_dw", "bn1") else 2)
    return f"network.{unit}.{0 if part.startswith('conv') else 1}.{leaf}"


ZOO = {
    # our model: (head size, inverse mapping, literal zoo names -> shapes, zoo names that must not exist)
    "ghostnet_100": (1000, lambda n, _: zoo_ghostnet_name(n), {
        "conv_stem.weight": (16, 3, 3, 3),
        "blocks.0.ghost1.primary_conv.conv.weight": (8, 16, 1, 1),
        "blocks.0.ghost1.cheap_operation.conv.weight": (8, 1, 3, 3),
        "blocks.0.ghost1.primary_conv.bn.moving_mean": (8,),
        "blocks.1.dw.conv.weight": (48, 1, 3, 3),
        "blocks.1.dw.bn.moving_variance": (48,),
        "blocks.1.shortcut.0.conv.weight": (16, 1, 3, 3),
        "blocks.1.shortcut.0.bn.gamma": (16,),
        "blocks.1.shortcut.1.conv.weight": (24, 16, 1, 1),
        "blocks.1.shortcut.1.bn.beta": (24,),
        "blocks.3.se.conv_reduce.weight": (20, 72, 1, 1),
        "blocks.3.se.conv_expand.bias": (72,),
        "blocks.11.dw.conv.weight": (672, 1, 5, 5),
        "blocks.15.ghost2.cheap_operation.bn.moving_variance": (80,),
        "blocks.16.conv.weight": (960, 160, 1, 1),
        "blocks.16.bn.moving_mean": (960,),
        "conv_head.weight": (1280, 960, 1, 1),
        "conv_head.bias": (1280,),
        "classifier.weight": (1000, 1280),
    }, ["blocks.0.shortcut.0.conv.weight", "blocks.2.dw.conv.weight", "blocks.2.se.conv_reduce.weight",
        "blocks.17.conv.weight"]),
    "ghostnet_nose_100": (1000, lambda n, _: zoo_ghostnet_name(n), {
        "blocks.3.ghost1.primary_conv.conv.weight": (36, 24, 1, 1),
        "blocks.16.conv.weight": (960, 160, 1, 1),
        "blocks.16.bn.gamma": (960,),
        "classifier.bias": (1000,),
    }, ["blocks.3.se.conv_reduce.weight", "blocks.15.se.conv_expand.weight"]),
    "ghostnet_600m": (1000, lambda n, _: zoo_ghostnet600_name(n), {
        "conv_stem.weight": (28, 3, 3, 3),
        "blocks.0.ghost1.primary_conv.conv.weight": (16, 28, 1, 1),
        "blocks.0.se.conv_reduce.weight": (8, 32, 1, 1),
        "blocks.1.dw.conv.weight": (88, 1, 3, 3),
        "blocks.3.dw.conv.weight": (136, 1, 5, 5),
        "blocks.3.shortcut.1.conv.weight": (72, 44, 1, 1),
        "blocks.18.se.conv_reduce.weight": (168, 1680, 1, 1),
        "blocks.19.conv.weight": (1680, 280, 1, 1),
        "blocks.19.bn.moving_variance": (1680,),
        "conv_head.weight": (1400, 1680, 1, 1),
        "classifier.weight": (1000, 1400),
    }, ["blocks.20.conv.weight", "blocks.0.dw.conv.weight"]),
    "genet_res50_theta_plus": (1000, zoo_genet_name, {
        "conv1.weight": (64, 3, 7, 7),
        "bn1.moving_mean": (64,),
        "layer1.0.conv1.conv.weight": (64, 64, 1, 1),
        "layer1.0.conv1.batchnorm.moving_mean": (64,),
        "layer1.0.conv2.conv.weight": (64, 64, 3, 3),
        "layer1.0.conv3.batchnorm.gamma": (256,),
        "layer1.0.down_layer.conv.weight": (256, 64, 1, 1),
        "layer1.0.down_layer.batchnorm.moving_variance": (256,),
        "layer1.0.downop.0.weight": (256, 256, 3, 3),
        "layer1.0.downop.1.gamma": (256,),
        "layer1.0.downop.2.weight": (256, 1, 28, 28),
        "layer1.0.downop.3.moving_variance": (256,),
        "layer2.0.conv2.conv.weight": (128, 128, 3, 3),
        "layer2.0.downop.0.weight": (512, 1, 28, 28),
        "layer2.0.downop.1.beta": (512,),
        "layer3.5.mlpLayer.0.weight": (64, 1024, 1, 1),
        "layer3.5.mlpLayer.2.weight": (1024, 64, 1, 1),
        "layer4.2.downop.0.weight": (2048, 1, 7, 7),
        "end_point.weight": (1000, 2048),
        "end_point.bias": (1000,),
    }, ["layer1.1.down_layer.conv.weight", "layer2.0.downop.2.weight", "layer1.0.mlpLayer.1.weight"]),
    "mobilenet_v1_100": (1001, lambda n, _: zoo_mobilenet_name(n), {
        "network.0.0.weight": (32, 3, 3, 3),
        "network.0.1.moving_mean": (32,),
        "network.1.0.weight": (32, 1, 3, 3),
        "network.2.0.weight": (64, 32, 1, 1),
        "network.3.0.weight": (64, 1, 3, 3),
        "network.4.0.weight": (128, 64, 1, 1),
        "network.4.1.gamma": (128,),
        "network.25.0.weight": (1024, 1, 3, 3),
        "network.26.0.weight": (1024, 1024, 1, 1),
        "network.26.1.moving_variance": (1024,),
        "fc.weight": (1001, 1024),
        "fc.bias": (1001,),
    }, ["network.27.0.weight", "network.0.2.weight"]),
}


BOOKKEEPING = {"learning_rate": np.array(0.1, np.float32), "global_step": np.array([1234], np.int32),
               "momentum": np.array(0.9, np.float32), "epoch_num": np.array([7], np.int32),
               "scale_sense": np.array(128.0, np.float32)}


def zoo_checkpoint(model, path):
    """A random checkpoint in the zoo's layout for our `model`: (zoo name -> array, our name -> zoo name)."""
    import mindspore as ms
    from src.models import create_model
    head, inverse, literal, absent = ZOO[model]
    ours = {k: tuple(p.shape) for k, p in create_model(model, num_classes=head).parameters_dict().items()}
    rng = np.random.default_rng(len(model))
    names = {k: inverse(k, ours) for k in ours}
    assert len(set(names.values())) == len(names)
    zoo = {}
    for k, zk in names.items():
        value = rng.standard_normal(ours[k]).astype(np.float32)
        zoo[zk] = np.abs(value) + 0.5 if k.endswith("moving_variance") else value
    for zk, shape in literal.items():
        assert zk in zoo, zk
        assert zoo[zk].shape == shape, zk
    for zk in absent:
        assert zk not in zoo, zk
    entries = dict(zoo, **BOOKKEEPING)
    entries[f"moments.{next(iter(zoo))}"] = np.zeros_like(next(iter(zoo.values())))
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in entries.items()], path)
    return zoo, names


# ---- networks, runs and pictures ----

def perturbed_network(name: str, size: int = 64, seed: int = 0):
    """Deterministic random weights (He-normal, fan in), random BN gamma and beta, moving statistics calibrated on
    random images and then perturbed (so no BN exactly normalises its input or is an identity, and every branch
    matters), eval mode. Used to check that re-parameterisation keeps a network's outputs."""
    import mindspore as ms
    from mindspore import nn
    from src.deploy import calibrate_batchnorm
    from src.models import create_model
    rng = np.random.default_rng(seed)
    net = create_model(name, num_classes=7, drop_rate=0.0)
    for _, cell in net.cells_and_names():
        if isinstance(cell, (nn.Conv2d, nn.Dense)):
            shape = cell.weight.shape
            fan_in = int(np.prod(shape[1:]))
            cell.weight.set_data(ms.Tensor((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)))
            if cell.bias is not None:
                cell.bias.set_data(ms.Tensor(rng.uniform(-0.1, 0.1, cell.bias.shape).astype(np.float32)))
    bns = [cell for _, cell in net.cells_and_names() if isinstance(cell, nn.BatchNorm2d)]
    for bn in bns:
        channels = bn.gamma.shape[0]
        bn.gamma.set_data(ms.Tensor(rng.uniform(0.5, 1.5, channels).astype(np.float32)))
        bn.beta.set_data(ms.Tensor(rng.uniform(-0.5, 0.5, channels).astype(np.float32)))
    calibrate_batchnorm(net, ms.Tensor(rng.standard_normal((16, 3, size, size)).astype(np.float32)))
    for bn in bns:
        mean, var = bn.moving_mean.asnumpy(), bn.moving_variance.asnumpy()
        bn.moving_mean.set_data(ms.Tensor((mean + 0.1 * np.sqrt(var) * rng.uniform(-1, 1, mean.shape))
                                          .astype(np.float32)))
        bn.moving_variance.set_data(ms.Tensor((var * rng.uniform(0.8, 1.25, var.shape)).astype(np.float32)))
    net.set_train(False)
    return net


def run_history(epochs=4, steps=5, label="run"):
    """A RunHistory of `epochs` epochs of `steps` steps, validated every second epoch, with its best so far."""
    from src.engine.report import EpochRow, RunHistory, StepPoint
    rng = np.random.default_rng(0)
    history = RunHistory(label, steps)
    best = (None, None)
    for epoch in range(1, epochs + 1):
        for s in range(steps):
            history.steps.append(StepPoint((epoch - 1) * steps + s + 1, epoch, float(2 / epoch + rng.random() * 0.2),
                                           0.1 * (1 - ((epoch - 1) * steps + s) / (epochs * steps))))
        top1 = 0.4 + 0.15 * epoch if epoch % 2 == 0 else None
        if top1 is not None and (best[0] is None or top1 > best[0]):
            best = (top1, epoch)
        history.rows.append(EpochRow(epoch, float(np.mean([p.loss for p in history.steps[-steps:]])),
                                     history.steps[-1].loss, history.steps[-1].lr, 123.4, 1.5, top1,
                                     None if top1 is None else min(1.0, top1 + 0.2), *best))
    return history


TRAIN_LOG = """\
2024-05-01 10:00:00,000 model ghostnet_050: 1,311,416 parameters, 4 classes; device CPU, mode graph, amp O0
2024-05-01 10:00:01,000 epoch: 1 step: [1/2], loss: 1.500000, lr: 0.010000, 20.0 img/s, epoch eta 1 s
2024-05-01 10:00:02,000 epoch: 1 step: 2, loss is 1.25
2024-05-01 10:00:02,100 epoch time: 2000.500 ms, per step time: 1000.250 ms, 32.0 img/s
2024-05-01 10:00:03,000 epoch: 2 step: [1/2], loss: 1.100000, lr: 0.050000, 30.0 img/s, epoch eta 1 s
2024-05-01 10:00:04,000 epoch: 2 step: 2, loss is 0.9
2024-05-01 10:00:04,100 epoch time: 1500.000 ms, per step time: 750.000 ms, 42.7 img/s
2024-05-01 10:00:05,000 epoch: 2 validation: top_1_accuracy 0.6000, top_5_accuracy 1.0000 over 52 images (1.0 s); best 0.6000 at epoch 2
2024-05-01 10:00:06,000 epoch: 3 step: [1/2], loss: 0.800000, lr: 0.020000, 30.0 img/s, epoch eta 1 s
2024-05-01 11:00:00,000 model ghostnet_050: 1,311,416 parameters, 4 classes; device CPU, mode graph, amp O0
2024-05-01 11:00:00,500 resumed from run/ckpt/ghostnet_050-2_2.ckpt: epoch 2 done, global step 4; continuing at epoch 3 of 3
2024-05-01 11:00:01,000 epoch: 3 step: [1/2], loss: 0.700000, lr: 0.020000, 30.0 img/s, epoch eta 1 s
2024-05-01 11:00:02,000 epoch: 3 step: 2, loss is 0.5
2024-05-01 11:00:02,100 epoch time: 1000.000 ms, per step time: 500.000 ms, 64.0 img/s
2024-05-01 11:00:03,000 epoch: 3 validation: top_1_accuracy 0.5000, top_5_accuracy 1.0000 over 52 images (1.0 s); best 0.6000 at epoch 2
"""  # noqa: E501 (the log lines as train.py writes them)


def write_jpeg(path, colour=(200, 30, 30)) -> str:
    """A 24x20 JPEG of one colour at `path`, its folders made."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((20, 24, 3), colour, np.uint8)).save(path)
    return path


GREEN, RED = (26, 127, 55), (207, 34, 46)   # plots.CORRECT, plots.WRONG


def pixels_near(image, colour, tolerance=30) -> int:
    """How many pixels of `image` are within `tolerance` of `colour` in every channel."""
    return int(np.all(np.abs(image.astype(int) - colour) < tolerance, axis=2).sum())


def not_blank(path, size):
    """The picture at `path` as an RGB array, checked to be `size` (width, height) and not blank."""
    image = np.asarray(Image.open(path).convert("RGB"))
    assert (image.shape[1], image.shape[0]) == size, path
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50, path
    return image


# ---- PyTorch / timm side of the comparisons ----

def import_timm():
    """The timm module (src/timm_reference.py makes it import beside the CPU build of torch)."""
    from src.timm_reference import import_timm as import_reference
    return import_reference()


def timm_model(name: str, num_classes: int, **kwargs) -> "torch.nn.Module":
    """timm's own network `name` (no pretrained weights: the hub is out of reach)."""
    return import_timm().create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


def randomize(net: "torch.nn.Module", seed: int, calibration: "torch.Tensor") -> "torch.nn.Module":
    """Random weights far from the default init, BN statistics calibrated on `calibration` and then perturbed.

    Conv / Linear weights He-normal (fan in) with random biases; BN gamma in [0.5, 1.5] and beta in [-0.5, 0.5].
    A train-mode forward with momentum=None sets every running mean / variance to the statistics that layer
    sees, so activations stay O(1) through the depth; each statistic is then perturbed (mean +- 0.2 std, variance
    x 0.7..1.4) so no BN is an identity or exactly calibrated. Returns the network in eval mode.
    """
    import torch
    from torch import nn
    gen = torch.Generator().manual_seed(seed)

    def uniform(shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=gen)

    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    module.bias.copy_(uniform(module.bias.shape, -0.2, 0.2))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(uniform(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(uniform(module.bias.shape, -0.5, 0.5))
                module.running_mean.copy_(uniform(module.running_mean.shape, -1.0, 1.0))
                module.running_var.copy_(uniform(module.running_var.shape, 0.5, 2.0))
                module.momentum = None  # cumulative average: one batch gives exactly its statistics
                module.reset_running_stats()
        net.train()
        net(calibration)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                std = module.running_var.sqrt()
                module.running_mean.add_(0.2 * std * (2 * torch.rand(std.shape, generator=gen) - 1))
                module.running_var.mul_(uniform(std.shape, 0.7, 1.4))
                module.momentum = 0.1
    return net.eval()


def state_dict_numpy(net: "torch.nn.Module"):
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def logits(net: "torch.nn.Module", images: np.ndarray) -> np.ndarray:
    import torch
    with torch.no_grad():
        return net.eval()(torch.from_numpy(images)).numpy()


def build_config(argv):
    """The training Config of `argv`."""
    from src.config import parse_config
    return parse_config(argv)[0]


def optional_torch():
    """(the torch module or None, a skip marker for tests that need PyTorch and timm): they are optional on a
    developer's machine, but on CI (which installs them) a missing one fails instead of skipping."""
    import pytest
    try:
        import torch
        import_timm()
        torch.set_num_threads(2)
    except ImportError:
        torch = None
    return torch, pytest.mark.skipif(torch is None and not ON_CI, reason="PyTorch / timm is not installed")

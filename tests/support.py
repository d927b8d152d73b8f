"""What the tests share: writers of small data sets in their real formats (JPEG class folders, CIFAR-10 binary
batches), the shell launchers, and the PyTorch side of comparisons with timm (random, well-conditioned weights
with calibrated BatchNorm statistics; PyTorch is imported only by the functions that need it)."""
import json
import math
import os
import subprocess
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:  # PyTorch is imported by the functions that use it
    import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# CI (.ci/run sets CI=true) installs every tool these tests need: there a missing tool must fail, not skip
ON_CI = bool(os.environ.get("CI"))

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

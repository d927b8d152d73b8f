"""Helpers shared by the test modules: running the shell launchers, writing JSON files, device IPs."""
import json
import os
import subprocess

from tests.datagen import ROOT

# CI (.ci/run sets CI=true) installs every tool these tests need: there a missing tool must fail, not skip
ON_CI = bool(os.environ.get("CI"))

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

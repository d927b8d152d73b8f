"""Build the train / eval datasets from the config: folder or CIFAR-10 source, transforms, sharding, batching."""
import contextlib
import os
import re
from dataclasses import dataclass
from typing import List, Optional

import mindspore as ms
import numpy as np
import mindspore.dataset as ds
from mindspore.dataset import transforms

from ..errors import DataError
from ..runtime import LOG
from . import transforms as T
from .folders import IMG_EXTENSIONS, read_cifar10, resolve_cifar10, resolve_image_folder, scan_image_folder
from .sharding import ShardSampler
from .synthetic import ensure_synthetic_dataset

DATASETS = ("imagenet", "folder", "cifar10", "synthetic")


@dataclass
class DatasetInfo:
    """A batched dataset and what the caller needs to know about it."""
    dataset: ds.Dataset
    num_samples: int          # samples this rank reads per epoch (its shard)
    num_classes: int
    root: str
    steps: int                # batches per epoch in this shard
    classes: Optional[List[str]] = None
    total: int = 0            # samples in the split (all shards)


def prepare_data_path(cfg, is_main: bool = True) -> str:
    """Resolve the data root, generating the synthetic quickstart set when the config asks for it (in a
    distributed run rank 0 writes it and the other ranks wait for it)."""
    if cfg.dataset not in DATASETS:
        raise DataError(f"unknown dataset '{cfg.dataset}'; expected one of {', '.join(DATASETS)}")
    if cfg.dataset == "synthetic":
        root = cfg.data_path or os.path.join(cfg.output_dir, "data")
        ensure_synthetic_dataset(root, num_classes=cfg.num_classes, image_size=cfg.synthetic_image_size,
                                 train_per_class=cfg.synthetic_train_per_class,
                                 val_per_class=cfg.synthetic_val_per_class, seed=cfg.seed,
                                 wait=0.0 if is_main else 600.0)
        return root
    if not cfg.data_path:
        raise DataError("no data path given: pass --data_path DIR")
    return cfg.data_path


def _norm_stats(cfg):
    is_cifar = cfg.dataset == "cifar10"
    mean = cfg.mean or (T.CIFAR10_MEAN if is_cifar else T.IMAGENET_MEAN)
    std = cfg.std or (T.CIFAR10_STD if is_cifar else T.IMAGENET_STD)
    return mean, std


def augmentation_seed(seed: int, rank: int, epoch: int) -> int:
    """The seed of every random augmentation stream of `rank` in `epoch` (0-based).

    The training loop seeds MindSpore's C++ augmentations with it (ds.config.set_seed, read when an epoch's
    pipeline starts) and RandomErasingBatch draws from it, so each epoch's crops, flips, RandAugment ops, erasing
    and mixup/cutmix depend on (seed, rank, epoch) only: a run resumed at epoch e draws what the uninterrupted run
    drew in epoch e, and the ranks of a distributed run draw differently.
    """
    return int(np.random.SeedSequence([seed, rank, epoch]).generate_state(1)[0])


def create_dataset(cfg, split: str, data_root: str, num_shards: int = 1, shard_id: int = 0, start_epoch: int = 0,
                   record: Optional[str] = None) -> Optional[DatasetInfo]:
    """The batched `split` ("train" or "val") dataset of shard `shard_id` of `num_shards`, or None when the data
    root has no such split.

    Training reads a disjoint, equally long shard per rank, reshuffled every epoch (from `start_epoch` on, so a
    resumed run continues the order) and drops the last partial batch; evaluation keeps every sample of its shard
    and the last batch, so the ranks together score every image exactly once (see sharding.py). `record`: a file
    where the sampler appends the indices it hands out each epoch. The random augmentations of epoch e draw from
    `augmentation_seed(cfg.seed, shard_id, e)` when the caller seeds each epoch's pipeline with it.
    """
    training = split == "train"
    batch_size = cfg.batch_size if training else (cfg.eval_batch_size or cfg.batch_size)
    workers = max(1, min(cfg.num_parallel_workers, os.cpu_count() or 1))  # MindSpore refuses more than the cores
    mean, std = _norm_stats(cfg)
    classes = None
    if cfg.dataset == "cifar10":
        folder, usage = resolve_cifar10(data_root, split)
        images, labels = read_cifar10(folder, usage)
        sampler = ShardSampler(len(labels), num_shards, shard_id, training, cfg.seed, start_epoch, record)
        # Read with NumPy rather than Cifar10Dataset, which only accepts files of exactly 10,000 records.
        data = ds.NumpySlicesDataset({"image": images, "label": labels}, sampler=sampler,
                                     num_parallel_workers=workers)
        ops = (T.cifar_train_transforms(cfg.image_size, mean, std, cfg.hflip, _augment(cfg, cifar=True)) if training
               else T.cifar_eval_transforms(cfg.image_size, mean, std))
        num_classes = 10
        _check_classes(num_classes, cfg.num_classes, folder)
        root = folder
    else:
        root = resolve_image_folder(data_root, split)
        if root is None:
            return None
        samples, classes = scan_image_folder(root, cfg.image_check)
        num_classes = len(classes)
        _check_classes(num_classes, cfg.num_classes, root)
        if num_classes < 2:
            if training:
                raise DataError(f"'{root}' has one class folder ({classes[0]}); a classifier needs at least two "
                                f"classes to learn from")
            LOG.warning(f"warning: the validation split '{root}' has one class folder ({classes[0]}); its accuracy "
                        f"says little")
        # The sampler's indices address ImageFolderDataset's order, which is the scan's: classes in the given
        # order, files sorted by name (tests/test_distributed.py checks this).
        sampler = ShardSampler(len(samples), num_shards, shard_id, training, cfg.seed, start_epoch, record)
        data = ds.ImageFolderDataset(root, sampler=sampler, num_parallel_workers=workers,
                                     extensions=list(IMG_EXTENSIONS),
                                     class_indexing={c: i for i, c in enumerate(classes)})
        ops = (T.folder_train_transforms(cfg.image_size, mean, std, cfg.min_scale, cfg.color_jitter, cfg.hflip,
                                         _augment(cfg), cfg.crop_ratio or (3 / 4, 4 / 3))
               if training else T.folder_eval_transforms(cfg.image_size, cfg.eval_resize or cfg.image_size,
                                                         mean, std))
    data = data.map(ops, input_columns="image", num_parallel_workers=workers)
    data = data.map(transforms.TypeCast(ms.int32), input_columns="label", num_parallel_workers=workers)
    if training and cfg.random_erasing > 0:
        eraser = T.RandomErasingBatch(cfg.random_erasing, augmentation_seed(cfg.seed, shard_id, 0), start_epoch)
        data = data.batch(batch_size, drop_remainder=True, num_parallel_workers=workers, per_batch_map=eraser,
                          input_columns=["image"])
    else:
        data = data.batch(batch_size, drop_remainder=training, num_parallel_workers=workers)
    mix = T.batch_mix_ops(cfg.num_classes, cfg.mixup, cfg.cutmix, cfg.mix_prob) if training else []
    if mix:
        data = data.map([transforms.OneHot(cfg.num_classes), transforms.TypeCast(ms.float32)],
                        input_columns="label", num_parallel_workers=workers)
        data = data.map(mix, input_columns=["image", "label"], num_parallel_workers=workers)
    steps = data.get_dataset_size()
    if training and steps == 0:
        shard = f" (a shard of {len(sampler)} per rank over {num_shards} ranks)" if num_shards > 1 else ""
        raise DataError(f"'{root}' has {sampler.total} training images{shard}, fewer than one batch of "
                        f"{batch_size}; lower --batch_size")
    return DatasetInfo(data, len(sampler), num_classes, root, steps, classes, sampler.total)


def _augment(cfg, cifar: bool = False) -> List:
    return T.auto_augment_ops(cfg.auto_augment, cfg.randaug_num_ops, cfg.randaug_magnitude, cifar)


def _check_classes(found: int, expected: int, root: str) -> None:
    if found > expected:
        raise DataError(f"'{root}' has {found} classes but the model has num_classes={expected}; "
                        f"set --num_classes {found}")


_FILE_RE = re.compile(r"data file is: (.+?)\. ")


@contextlib.contextmanager
def pipeline_errors():
    """Turn MindSpore's data-pipeline failure (e.g. a JPEG that does not decode) into a DataError naming the file."""
    try:
        yield
    except RuntimeError as e:
        text = str(e)
        if "dataset pipeline" not in text and "data file is" not in text:
            raise
        match = _FILE_RE.search(text)
        detail = re.search(r"\[Internal ERROR\] ([^.]+)", text)
        reason = detail.group(1) if detail else "the data pipeline failed"
        if match:
            raise DataError(f"corrupt image '{match.group(1)}': {reason}; remove or replace it "
                            f"(or run with --image_check decode to find every such file up front)") from None
        raise DataError(f"data pipeline failed: {reason}") from None

"""Data sets as the training and evaluation loops consume them, from explicit values (MindCV's shape):

- `open_split(data_path, split, kind, image_check)`: find and check one split once (class folders scanned, image
  files checked; CIFAR-10 batches read) -> a `DataSource`, or None when the data has no such split;
- `create_dataset(source, ...)`: the unbatched MindSpore dataset of one rank's shard for one epoch (or, with
  `num_epochs`, several);
- `create_loader(dataset, transforms, ...)`: per-image transforms, batching, random erasing and mixup / cutmix.

A training pipeline is built per epoch: its shard comes from a permutation seeded by (seed, epoch) and its random
augmentations from `augmentation_seed(seed, rank, epoch)`, so a resumed run reads and draws what the uninterrupted
run did (see sharding.py for the shards).
"""
import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import mindspore as ms
import mindspore.dataset as ds
import numpy as np
from mindspore.dataset import transforms

from ..errors import DataError
from ..runtime import LOG
from . import transforms as T
from .folders import read_cifar10, resolve_cifar10, resolve_image_folder, scan_image_folder
from .sharding import ShardSampler
from .synthetic import ensure_synthetic_dataset

DATASETS = ("imagenet", "folder", "cifar10", "synthetic")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass
class DataSource:
    """One split of a data set, found and checked: what `create_dataset` reads."""
    kind: str                              # "folder" (encoded image files in class folders) | "cifar10"
    root: str
    classes: List[str]
    num_samples: int
    samples: list = field(default_factory=list, repr=False)      # folder: (path, label)
    images: Optional[np.ndarray] = field(default=None, repr=False)  # cifar10: N x 32 x 32 x 3 uint8
    labels: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class Loader:
    """A batched dataset and what its consumer needs to know."""
    dataset: ds.Dataset
    steps: int             # batches per epoch
    num_samples: int       # samples this rank reads per epoch
    total: int             # samples in the split (all ranks)


def detect_dataset(data_path: str) -> str:
    """The kind of the data at `data_path`: "cifar10" when it holds CIFAR-10 binary batches (itself, its
    cifar-10-batches-bin sub-folder, or the model zoo's cifar-10-verify-bin with test_batch.bin), else "imagenet"
    (class folders, possibly under train/ and val/)."""
    for folder in (data_path, os.path.join(data_path, "cifar-10-batches-bin")):
        if any(os.path.isfile(os.path.join(folder, name)) for name in ("data_batch_1.bin", "test_batch.bin")):
            return "cifar10"
    return "imagenet"


def resolve_dataset(dataset: str, data_path: str, synthetic_requested: bool = False) -> str:
    """The data-set kind to read. "auto" follows the data path; "synthetic" (the quickstart recipe's) generates data
    only when no path is given or the user asked for it (`synthetic_requested`): a user's path is read as it is."""
    if dataset not in DATASETS + ("auto",):
        raise DataError(f"unknown dataset '{dataset}'; expected one of auto, {', '.join(DATASETS)}")
    if dataset == "synthetic":
        if not data_path or synthetic_requested or os.path.isfile(os.path.join(data_path, "synthetic.json")):
            return "synthetic"
        return detect_dataset(data_path) if os.path.exists(data_path) else "imagenet"
    if dataset == "auto":
        if not data_path:
            raise DataError("no data path given: pass --data_path DIR")
        return detect_dataset(data_path) if os.path.exists(data_path) else "imagenet"
    return dataset


def resolve_data_path(dataset: str, data_path: str, output_dir: str, num_classes: int, seed: int,
                      synthetic_image_size: int = 64, synthetic_train_per_class: int = 300,
                      synthetic_val_per_class: int = 50, is_main: bool = True) -> str:
    """The data root; for the synthetic quickstart set, generate it (rank 0 writes, other ranks wait)."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset '{dataset}'; expected one of {', '.join(DATASETS)}")
    if dataset == "synthetic":
        root = data_path or os.path.join(output_dir, "data")
        return ensure_synthetic_dataset(root, num_classes=num_classes, image_size=synthetic_image_size,
                                        train_per_class=synthetic_train_per_class,
                                        val_per_class=synthetic_val_per_class, seed=seed,
                                        wait=0.0 if is_main else 600.0)
    if not data_path:
        raise DataError("no data path given: pass --data_path DIR")
    return data_path


def open_split(data_path: str, split: str, dataset: str = "imagenet", image_check: str = "structure",
               training: bool = False, classes: Optional[Sequence[str]] = None,
               classes_from: str = "the training set") -> Optional[DataSource]:
    """The `split` ("train" or "val") of the data at `data_path`, or None when it has other splits but not this.

    `dataset` "cifar10" reads the binary batches; the others read class folders, labelled by `classes` (the
    training set's or a checkpoint's, named by `classes_from`) when given, else by their own sorted names. A
    training split needs two classes at least."""
    if dataset == "cifar10":
        folder, usage = resolve_cifar10(data_path, split)
        images, labels = read_cifar10(folder, usage)
        return DataSource("cifar10", folder, list(CIFAR10_CLASSES), len(labels), images=images, labels=labels)
    root = resolve_image_folder(data_path, split)
    if root is None:
        return None
    samples, classes = scan_image_folder(root, image_check, classes, classes_from)
    present = sorted({classes[label] for _, label in samples})
    if len(present) < 2:
        if training:
            raise DataError(f"'{root}' has one class folder ({present[0]}); a classifier needs at least two "
                            f"classes to learn from")
        LOG.warning(f"warning: the validation split '{root}' has one class folder ({present[0]}); its accuracy "
                    f"says little")
    return DataSource("folder", root, classes, len(samples), samples=samples)


def check_class_count(source: DataSource, num_classes: int, set_by: str = "") -> None:
    """Refuse a model with fewer outputs than the data's classes; and when the user set num_classes (`set_by`:
    "recipe" or "command line"), any count other than the data's (labels past the outputs, or outputs that no
    label trains, would go unnoticed)."""
    strict = set_by in ("recipe", "command line")
    if source.num_classes > num_classes or (strict and source.num_classes != num_classes):
        where = {"recipe": "the recipe (--config)", "command line": "the command line"}.get(set_by, "")
        fix = (f"pass --num_classes {source.num_classes} or leave num_classes out (it is then taken from the data)"
               if set_by == "command line" else
               f"remove num_classes from the recipe or pass --num_classes {source.num_classes}" if where else
               f"set --num_classes {source.num_classes}")
        raise DataError(f"'{source.root}' has {source.num_classes} classes but the model has num_classes="
                        f"{num_classes}{f' (set by {where})' if where else ''}; {fix}")


def augmentation_seed(seed: int, rank: int, epoch: int) -> int:
    """The seed of every random augmentation stream of `rank` in `epoch` (0-based).

    The training loop seeds MindSpore's C++ augmentations with it (ds.config.set_seed, read when an epoch's
    pipeline starts) and RandomErasingBatch draws from it, so each epoch's crops, flips, RandAugment ops, erasing
    and mixup/cutmix depend on (seed, rank, epoch) only: a run resumed at epoch e draws what the uninterrupted run
    drew in epoch e, and the ranks of a distributed run draw differently.
    """
    return int(np.random.SeedSequence([seed, rank, epoch]).generate_state(1)[0])


def _workers(requested: int) -> int:
    return max(1, min(requested, os.cpu_count() or 1))  # MindSpore refuses more than the cores


def create_dataset(source: DataSource, *, training: bool, num_shards: int = 1, shard_id: int = 0, seed: int = 0,
                   epoch: int = 0, record: Optional[str] = None, num_parallel_workers: int = 4) -> ds.Dataset:
    """The unbatched (image, label) dataset of shard `shard_id` of `num_shards`, from `epoch` on.

    Training reads a disjoint, equally long shard per rank, reshuffled every epoch; evaluation keeps every sample
    of its shard, so the ranks together score every image exactly once (see sharding.py). `record`: a file where
    the sampler appends the indices it hands out each epoch."""
    workers = _workers(num_parallel_workers)
    sampler = ShardSampler(source.num_samples, num_shards, shard_id, training, seed, epoch, record)
    if source.kind == "cifar10":
        # Read with NumPy rather than Cifar10Dataset, which only accepts files of exactly 10,000 records.
        data = ds.NumpySlicesDataset({"image": source.images, "label": source.labels}, sampler=sampler,
                                     num_parallel_workers=workers)
    else:
        # The sampler's indices address ImageFolderDataset's order, which is the scan's: classes in the given
        # order, files sorted by name (tests/data/test_sharding.py checks this).
        data = ds.ImageFolderDataset(source.root, sampler=sampler, num_parallel_workers=workers,
                                     extensions=image_suffixes(source.samples),
                                     class_indexing={c: i for i, c in enumerate(source.classes)})
    data.shard_sampler = sampler  # create_loader reports the shard and split sizes from it
    return data


def image_suffixes(samples: Sequence) -> List[str]:
    """The file suffixes, exactly as written, of the scanned images: ImageFolderDataset compares suffixes case by
    case, so it is given those the scan (case-insensitive) accepted and lists the same files."""
    return sorted({os.path.splitext(path)[1] for path, _ in samples})


def create_loader(dataset: ds.Dataset, image_transforms: Sequence, *, batch_size: int, training: bool,
                  num_classes: int = 0, augmentation: Optional[T.Augmentation] = None, seed: int = 0, rank: int = 0,
                  epoch: int = 0, num_parallel_workers: int = 4) -> Loader:
    """Transform, batch (training drops the last partial batch), erase and mix as `augmentation` says; `seed`,
    `rank` and `epoch` seed the erasing (see augmentation_seed)."""
    aug = augmentation or T.Augmentation()
    workers = _workers(num_parallel_workers)
    sampler = getattr(dataset, "shard_sampler", None)
    data = dataset.map(list(image_transforms), input_columns="image", num_parallel_workers=workers)
    data = data.map(transforms.TypeCast(ms.int32), input_columns="label", num_parallel_workers=workers)
    if training and aug.random_erasing > 0:
        eraser = T.RandomErasingBatch(aug.random_erasing, augmentation_seed(seed, rank, 0), epoch)
        data = data.batch(batch_size, drop_remainder=True, num_parallel_workers=workers, per_batch_map=eraser,
                          input_columns=["image"])
    else:
        data = data.batch(batch_size, drop_remainder=training, num_parallel_workers=workers)
    mix = T.batch_mix_ops(num_classes, aug.mixup, aug.cutmix, aug.mix_prob) if training else []
    if mix:
        data = data.map([transforms.OneHot(num_classes), transforms.TypeCast(ms.float32)],
                        input_columns="label", num_parallel_workers=workers)
        data = data.map(mix, input_columns=["image", "label"], num_parallel_workers=workers)
    steps = data.get_dataset_size()
    shard = len(sampler) if sampler is not None else dataset.get_dataset_size()
    total = sampler.total if sampler is not None else shard
    if training and steps == 0:
        per_rank = f" (a shard of {shard} per rank)" if shard != total else ""
        raise DataError(f"the training split has {total} images{per_rank}, fewer than one batch of {batch_size}; "
                        f"lower --batch_size")
    return Loader(data, steps, shard, total)


def create_split_loader(source: DataSource, preprocessing, *, training: bool, batch_size: int,
                        augmentation: Optional[T.Augmentation] = None, num_classes: int = 0, num_shards: int = 1,
                        shard_id: int = 0, seed: int = 0, epoch: int = 0, record: Optional[str] = None,
                        num_parallel_workers: int = 4) -> Loader:
    """create_transforms + create_dataset + create_loader for one rank's shard of `source` from `epoch` on, with a
    `preprocessing` (data.preprocessing.Preprocessing) and, for training, an `augmentation`."""
    image_transforms = T.create_transforms("cifar10" if source.kind == "cifar10" else "folder", training,
                                           preprocessing, augmentation)
    dataset = create_dataset(source, training=training, num_shards=num_shards, shard_id=shard_id, seed=seed,
                             epoch=epoch, record=record, num_parallel_workers=num_parallel_workers)
    return create_loader(dataset, image_transforms, batch_size=batch_size, training=training,
                         num_classes=num_classes, augmentation=augmentation, seed=seed, rank=shard_id, epoch=epoch,
                         num_parallel_workers=num_parallel_workers)


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
            raise DataError(f"corrupt image '{match.group(1)}': {reason}; remove or replace it (python -m "
                            f"src.tools.check_images DIR lists every such file)") from None
        raise DataError(f"data pipeline failed: {reason}") from None

"""Locating and checking on-disk data sets: ImageNet-style class folders and the CIFAR-10 binary format."""
import os
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image

from ..errors import DataError
from ..progress import track
from .image_check import check_image_structure

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".JPEG", ".JPG", ".PNG", ".BMP")
# Sub-folder names accepted for each split, in order of preference (the model zoo used `ilsvrc` and
# `validation_preprocess`).
SPLIT_DIRS = {
    "train": ("train", "ilsvrc"),
    "val": ("val", "validation_preprocess", "validation", "test"),
}

CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILES = ("test_batch.bin",)


def _is_image(name: str) -> bool:
    return name.endswith(IMG_EXTENSIONS)


def _class_dirs(root: str) -> List[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def resolve_image_folder(data_path: str, split: str) -> Optional[str]:
    """The class-folder directory holding `split` ("train" or "val") under `data_path`.

    Accepts a root with `train/` and `val/` (or the model zoo's `ilsvrc/` and `validation_preprocess/`), or a
    split folder given directly (class sub-folders right under `data_path`). Returns None when the root has
    other splits but not this one.
    """
    if split not in SPLIT_DIRS:
        raise ValueError(f"unknown split '{split}'; expected one of {sorted(SPLIT_DIRS)}")
    if not os.path.exists(data_path):
        raise FileNotFoundError(f"data path '{data_path}' does not exist")
    if not os.path.isdir(data_path):
        raise DataError(f"data path '{data_path}' is not a directory")
    for name in SPLIT_DIRS[split]:
        candidate = os.path.join(data_path, name)
        if os.path.isdir(candidate):
            return candidate
    known_splits = {n for names in SPLIT_DIRS.values() for n in names}
    if any(os.path.isdir(os.path.join(data_path, n)) for n in known_splits):
        return None
    return data_path


IMAGE_CHECKS = ("none", "structure", "decode")
FIND_ALL_HINT = "python -m src.tools.check_images DIR lists every such file"


def scan_image_folder(root: str, check: str = "structure") -> Tuple[List[Tuple[str, int]], List[str]]:
    """List (path, label) for every image under `root`/<class>/, classes sorted by name.

    `check`: "structure" parses each file's headers, tables and end marker (image_check.py; tens of microseconds a
    file; catches the truncated or damaged JPEGs that crash MindSpore's decoder), "decode" fully decodes each image
    with Pillow, "none" skips checks ("signature" is another name for "structure"). A bad file raises DataError
    naming it.
    """
    check = "structure" if check == "signature" else check
    if check not in IMAGE_CHECKS:
        raise ValueError(f"image check must be one of {', '.join(IMAGE_CHECKS)}; got '{check}'")
    classes = _class_dirs(root)
    if not classes:
        loose = [n for n in os.listdir(root) if _is_image(n)]
        hint = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise DataError(f"no class sub-folders in '{root}'{hint}; expected one sub-folder of images per class, "
                        f"e.g. {root}/<class_name>/<image>.jpg")
    samples = []
    for label, cls in enumerate(classes):
        class_dir = os.path.join(root, cls)
        for name in sorted(os.listdir(class_dir)):
            if _is_image(name):
                samples.append((os.path.join(class_dir, name), label))
    if not samples:
        raise DataError(f"no images ({', '.join(sorted({e.lower() for e in IMG_EXTENSIONS}))}) found in the "
                        f"{len(classes)} class folders of '{root}'")
    if check != "none":  # a progress bar (or plain lines off a terminal) when the check takes a while
        for path, _ in track(samples, f"{check} check of {root}", "file"):
            check_image_file(path, decode=(check == "decode"))
    return samples, classes


def check_image_file(path: str, decode: bool = False) -> None:
    """Raise DataError naming `path` when its structure is broken (empty, not an image, truncated: see
    image_check.py) or, with `decode`, when Pillow cannot decode it."""
    try:
        check_image_structure(path)
    except ValueError as e:
        raise DataError(f"{e}; remove or replace it ({FIND_ALL_HINT})") from None
    if decode:
        try:
            with Image.open(path) as img:
                img.load()
        except Exception as e:  # Pillow raises many types for broken files
            raise DataError(f"corrupt image '{path}': {e}; remove or replace it ({FIND_ALL_HINT})") from None


def resolve_cifar10(data_path: str, split: str) -> Tuple[str, str]:
    """The `cifar-10-batches-bin` directory and the Cifar10Dataset `usage` for `split`.

    Accepts the batches folder itself, its parent, or (for evaluation) a folder holding only `test_batch.bin`
    such as the model zoo's `cifar-10-verify-bin`. Every file is checked for the 3073-byte record size.
    """
    if not os.path.exists(data_path):
        raise FileNotFoundError(f"data path '{data_path}' does not exist")
    candidates = [data_path, os.path.join(data_path, "cifar-10-batches-bin")]
    wanted = CIFAR_TRAIN_FILES if split == "train" else CIFAR_TEST_FILES
    for folder in candidates:
        if os.path.isdir(folder) and all(os.path.isfile(os.path.join(folder, f)) for f in wanted):
            for name in wanted:
                path = os.path.join(folder, name)
                size = os.path.getsize(path)
                if size == 0 or size % CIFAR_RECORD_BYTES:
                    raise DataError(f"CIFAR-10 file '{path}' has {size} bytes, not a multiple of the "
                                    f"{CIFAR_RECORD_BYTES}-byte record; it is truncated or not CIFAR-10 binary")
            return folder, ("train" if split == "train" else "test")
    present = sorted(os.listdir(data_path)) if os.path.isdir(data_path) else []
    raise DataError(f"no CIFAR-10 binary {split} files in '{data_path}': expected {', '.join(wanted)} "
                    f"(the cifar-10-batches-bin format); found {present[:10]}")


def read_cifar10(folder: str, usage: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images N x 32 x 32 x 3 uint8, labels N int32) from the binary batches of `usage` ("train" / "test").

    Each record is one label byte followed by the red, green and blue 32 x 32 planes.
    """
    names = CIFAR_TRAIN_FILES if usage == "train" else CIFAR_TEST_FILES
    records = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
                              for n in names])
    labels = records[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise DataError(f"CIFAR-10 files in '{folder}' hold label {labels.max()}; labels must be 0..9")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels

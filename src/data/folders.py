"""Locating and checking on-disk data sets: ImageNet-style class folders and the CIFAR-10 binary format."""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..errors import DataError
from ..progress import track
from .image_check import IMAGE_EXTENSIONS, check_image_structure

# Sub-folder names accepted for each split, in order of preference (the model zoo used `ilsvrc` and
# `validation_preprocess`).
SPLIT_DIRS = {
    "train": ("train", "ilsvrc"),
    "val": ("val", "validation_preprocess", "validation", "test"),
}

CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILES = ("test_batch.bin",)


def is_image_name(name: str) -> bool:
    """Whether a file name is an image's (IMAGE_EXTENSIONS, any case): the one test every command applies."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


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


def check_output_outside_splits(data_path: str, output_dir: str) -> None:
    """Refuse an output folder inside a split folder of class folders: it would be read as a class (train.py's
    own folder the first time, a class `ckpt`-like folder without images the next)."""
    if not os.path.isdir(data_path):
        return
    out = os.path.abspath(output_dir)
    for split in SPLIT_DIRS:
        root = resolve_image_folder(data_path, split)
        if root is not None and os.path.commonpath([out, os.path.abspath(root)]) == os.path.abspath(root):
            raise DataError(f"output_dir '{output_dir}' lies inside the class folders of '{root}', where it would "
                            f"be read as a class; choose an --output_dir outside the data")


IMAGE_CHECKS = ("none", "structure", "decode")
FIND_ALL_HINT = "python -m src.tools.check_images DIR lists every such file"


def scan_image_folder(root: str, check: str = "structure", classes: Optional[Sequence[str]] = None,
                      classes_from: str = "the training set") -> Tuple[List[Tuple[str, int]], List[str]]:
    """List (path, label) for every image under `root`/<class>/; return them and the class names.

    Without `classes` the labels follow the class folders sorted by name. With `classes` (the training set's, or a
    checkpoint's, named by `classes_from`) each folder gets its class's index there, and a folder of a class
    not in it is refused. A class folder without images of its own is refused too (see check_class_folders).
    `check`: "structure" parses each file's headers, tables and end marker (image_check.py; tens of microseconds a
    file; catches the truncated or damaged JPEGs that crash MindSpore's decoder), "decode" fully decodes each image
    with Pillow, "none" skips checks ("signature" is another name for "structure"). A bad file raises DataError
    naming it.
    """
    check = "structure" if check == "signature" else check
    if check not in IMAGE_CHECKS:
        raise ValueError(f"image check must be one of {', '.join(IMAGE_CHECKS)}; got '{check}'")
    folders = _class_dirs(root)
    if not folders:
        loose = [n for n in os.listdir(root) if is_image_name(n)]
        hint = f" ({len(loose)} images lie directly in it)" if loose else ""
        raise DataError(f"no class sub-folders in '{root}'{hint}; expected one sub-folder of images per class, "
                        f"e.g. {root}/<class_name>/<image>.jpg")
    listing = {cls: sorted(os.listdir(os.path.join(root, cls))) for cls in folders}
    check_class_folders(root, listing)
    images = {cls: [n for n in names if is_image_name(n)] for cls, names in listing.items()}
    if classes is None:
        classes = folders
    else:
        unknown = [cls for cls in folders if cls not in classes]
        if unknown:
            raise DataError(f"'{root}' has class folder(s) {', '.join(unknown)} that {classes_from} lacks (its "
                            f"{len(classes)} classes: {_preview(classes)}); labels follow {classes_from}'s "
                            f"classes, so remove or rename those folders")
    classes = list(classes)
    samples = [(os.path.join(root, cls, name), label) for label, cls in enumerate(classes) if cls in images
               for name in images[cls]]
    if check != "none":  # a progress bar (or plain lines off a terminal) when the check takes a while
        for path, _ in track(samples, f"{check} check of {root}", "file"):
            check_image_file(path, decode=(check == "decode"))
    return samples, classes


def _preview(names: Sequence[str], count: int = 8) -> str:
    return ", ".join(names[:count]) + (", ..." if len(names) > count else "")


OUTPUT_MARKERS = ("train.log", "train.lock", "config.yaml", "ckpt")  # what train.py writes into an output folder


def check_class_folders(root: str, listing: Dict[str, List[str]]) -> None:
    """Refuse class folders (`listing`: class -> the names in its folder) that would make a class without real
    images (one the network would learn as never present, or learn from plots): a training run's output folder, and
    folders without images of their own (empty, or with the images only in sub-folders). The error names every
    such folder."""
    reasons = []
    for cls, entries in listing.items():
        folder = os.path.join(root, cls)
        markers = [e for e in entries if e in OUTPUT_MARKERS]
        if len(markers) >= 2 or "train.lock" in markers:
            reasons.append(f"'{folder}' is a training run's output folder (it holds {', '.join(markers)}); move it "
                           f"out of the data folder")
        elif not any(is_image_name(e) for e in entries):
            nested = [e for e in entries if os.path.isdir(os.path.join(folder, e)) and
                      any(is_image_name(n) for _, _, files in os.walk(os.path.join(folder, e)) for n in files)]
            if nested:
                reasons.append(f"'{folder}' has its images only in sub-folder(s) {_preview(nested)}; class folders "
                               f"hold their images directly, so move them up into '{folder}'")
            else:
                reasons.append(f"'{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)}; "
                               + (f"it holds {_preview(entries, 3)})" if entries else "it is empty)"))
    if reasons:
        raise DataError(f"no images for {len(reasons)} of the {len(listing)} class folders of '{root}' (each would be "
                        f"a class without real images): {'; '.join(reasons)}")


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

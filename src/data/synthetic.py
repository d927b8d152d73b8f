"""A small, deterministic image-classification set for the quickstart and the tests.

Every class is defined by shape or texture (disk, square, triangle, ring, horizontal stripes, vertical stripes,
checkerboard, cross), drawn with random colours, size, position and noise, so that mean colour alone cannot tell
classes apart. Images are written as real JPEG files in ImageNet-style class folders (`train/` and `val/`).
"""
import json
import os
import shutil
import time
from typing import Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..errors import DataError

SHAPES = ("disk", "hstripes", "square", "vstripes", "triangle", "checker", "ring", "cross")
_VERSION = 2


def _colours(rng: np.random.Generator) -> Tuple[tuple, tuple]:
    while True:
        fg, bg = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if np.abs(fg.astype(int) - bg.astype(int)).sum() > 150:  # keep the pattern visible
            return tuple(int(v) for v in fg), tuple(int(v) for v in bg)


def draw_sample(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One image of class `kind`."""
    fg, bg = _colours(rng)
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    extent = rng.uniform(0.45, 0.8) * size
    cx, cy = rng.uniform(extent / 2, size - extent / 2, 2)
    x0, y0, x1, y1 = cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2
    if kind == "disk":
        draw.ellipse([x0, y0, x1, y1], fill=fg)
    elif kind == "square":
        draw.rectangle([x0, y0, x1, y1], fill=fg)
    elif kind == "triangle":
        draw.polygon([(cx, y0), (x0, y1), (x1, y1)], fill=fg)
    elif kind == "ring":
        width = max(2, int(extent * 0.15))
        draw.ellipse([x0, y0, x1, y1], outline=fg, width=width)
    elif kind == "cross":
        arm = extent * 0.15
        draw.rectangle([cx - arm, y0, cx + arm, y1], fill=fg)
        draw.rectangle([x0, cy - arm, x1, cy + arm], fill=fg)
    else:  # textures over a large rectangle
        period = int(rng.integers(max(4, size // 12), max(6, size // 5)))
        yy, xx = np.mgrid[0:size, 0:size]
        if kind == "hstripes":
            mask = (yy // period) % 2 == 0
        elif kind == "vstripes":
            mask = (xx // period) % 2 == 0
        elif kind == "checker":
            mask = ((yy // period) + (xx // period)) % 2 == 0
        else:
            raise ValueError(f"unknown synthetic class '{kind}'; known: {', '.join(SHAPES)}")
        region = np.zeros((size, size), bool)
        region[int(y0):int(y1), int(x0):int(x1)] = True
        arr = np.array(img)
        arr[mask & region] = fg
        img = Image.fromarray(arr)
    arr = np.asarray(img).astype(np.float32) + rng.normal(0, 12, (size, size, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _read_marker(marker: str):
    try:
        with open(marker) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_synthetic_dataset(root: str, num_classes: int = 6, image_size: int = 64, train_per_class: int = 300,
                             val_per_class: int = 50, seed: int = 0, wait: float = 0.0) -> str:
    """Write the data set under `root` unless an identical one is already there; return `root`.

    `wait` > 0: do not write, wait up to that many seconds for another process (rank 0 of a distributed run) to
    have written it."""
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(f"the synthetic data set has 2 to {len(SHAPES)} classes, got num_classes={num_classes}")
    spec = dict(version=_VERSION, num_classes=num_classes, image_size=image_size,
                train_per_class=train_per_class, val_per_class=val_per_class, seed=seed)
    marker = os.path.join(root, "synthetic.json")
    if wait > 0:
        deadline = time.time() + wait
        while _read_marker(marker) != spec:
            if time.time() > deadline:
                raise DataError(f"waited {wait:.0f} s for rank 0 to generate the synthetic data set in '{root}'")
            time.sleep(0.5)
        return root
    if os.path.isfile(marker):
        if _read_marker(marker) == spec:
            return root
    elif os.path.isdir(root) and os.listdir(root):
        # Never replace a folder this generator did not write: it may be the user's own data.
        raise DataError(f"'{root}' exists and is not a generated synthetic data set; pass an empty or new "
                        f"--data_path for dataset 'synthetic', or --dataset imagenet to train on that folder")
    rng = np.random.default_rng(seed)
    tmp = root.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label, kind in enumerate(SHAPES[:num_classes]):
            folder = os.path.join(tmp, split, f"{label:02d}_{kind}")
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                draw_sample(kind, image_size, rng).save(os.path.join(folder, f"{kind}_{i:05d}.jpg"), quality=90)
    with open(os.path.join(tmp, "synthetic.json"), "w") as f:
        json.dump(spec, f)
    # Written aside and moved into place, so an interrupted run never leaves a half-made data set behind.
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(root)), exist_ok=True)
    os.replace(tmp, root)
    return root

"""Split a flower_photos-style folder (one sub-folder per class) into train/ and test/.

    python -m src.tools.split_dataset --src flower_photos --dst dataset [--train_ratio 0.75] [--seed 0]
                                      [--link] [--overwrite]

Stratified: each class is split on its own. Deterministic: each class's files are sorted by name, then shuffled
with the seed, so the split does not depend on the file system's listing order (the model zoo's data_split.py
took the first 3/4 of an unsorted listing). An existing dst/train or dst/test is refused unless --overwrite.
"""
import argparse
import math
import os
import shutil
import sys
from typing import Dict, List, Tuple

import numpy as np

from ..cli import run_main
from ..data.folders import scan_image_folder


def plan_split(src: str, train_ratio: float, seed: int) -> Dict[str, Tuple[List[str], List[str]]]:
    """{class: (train files, test files)}, file names relative to the class folder."""
    if not 0 < train_ratio < 1:
        raise ValueError(f"--train_ratio must be between 0 and 1, got {train_ratio}")
    samples, classes = scan_image_folder(src, check="none")
    by_class: Dict[str, List[str]] = {c: [] for c in classes}
    for path, label in samples:
        by_class[classes[label]].append(os.path.basename(path))
    plan = {}
    for index, cls in enumerate(classes):
        names = sorted(by_class[cls])
        order = np.random.default_rng([seed, index]).permutation(len(names))
        shuffled = [names[i] for i in order]
        cut = min(len(names) - 1, max(1, math.floor(len(names) * train_ratio + 0.5))) if len(names) > 1 else 1
        plan[cls] = (sorted(shuffled[:cut]), sorted(shuffled[cut:]))
    return plan


def write_split(src: str, dst: str, plan, link: bool = False, overwrite: bool = False) -> None:
    for split in ("train", "test"):
        target = os.path.join(dst, split)
        if os.path.exists(target):
            if not overwrite:
                raise FileExistsError(f"'{target}' already exists; pass --overwrite to replace the split")
            shutil.rmtree(target)
    for cls, (train, test) in plan.items():
        for split, names in (("train", train), ("test", test)):
            folder = os.path.join(dst, split, cls)
            os.makedirs(folder, exist_ok=True)
            for name in names:
                source = os.path.abspath(os.path.join(src, cls, name))
                if link:
                    os.symlink(source, os.path.join(folder, name))
                else:
                    shutil.copy2(source, os.path.join(folder, name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.split_dataset", description=__doc__.splitlines()[0])
    parser.add_argument("--src", required=True, help="folder with one sub-folder of images per class")
    parser.add_argument("--dst", required=True, help="where train/ and test/ are written")
    parser.add_argument("--train_ratio", type=float, default=0.75)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--link", action="store_true", help="symbolic links instead of copies")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dst/train and dst/test")
    return run_main("split_dataset", parser.parse_args, _run, argv)


def _run(args) -> int:
    plan = plan_split(args.src, args.train_ratio, args.seed)
    write_split(args.src, args.dst, plan, args.link, args.overwrite)
    n_train = sum(len(t) for t, _ in plan.values())
    n_test = sum(len(t) for _, t in plan.values())
    print(f"{len(plan)} classes: {n_train} training and {n_test} test images in {args.dst}/train and {args.dst}/test")
    return 0


if __name__ == "__main__":
    sys.exit(main())

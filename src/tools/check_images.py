"""List every truncated or corrupt JPEG, PNG or BMP file under one or more folders (headers and end markers are
checked; nothing is decoded), so that all of them can be removed or replaced at once.

    python -m src.tools.check_images FOLDER [FOLDER ...]

Prints `path<TAB>what is wrong` per bad file and a summary; exits 1 when any file is bad.
"""
import argparse
import os
import sys
import time

from ..cli import run_main
from ..data.folders import is_image_name
from ..data.image_check import check_image_structure
from ..progress import track


def image_files(root: str):
    """Every image file (by extension, case-insensitive) under `root`, in find_bad_images' order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found += [os.path.join(dirpath, n) for n in sorted(filenames) if is_image_name(n)]
    return found


def _run(args) -> int:
    for root in args.folders:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"'{root}' is not a folder")
    start = time.time()
    bad = 0
    files = [path for root in args.folders for path in image_files(root)]
    checked = len(files)
    for path in track(files, "check_images", "file"):
        try:
            check_image_structure(path)
        except ValueError as e:
            bad += 1
            print(f"{path}\t{e}", flush=True)
    sys.stderr.write(f"{bad} bad of {checked} images checked in {time.time() - start:.1f} s\n")
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.check_images", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    return run_main("check_images", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())

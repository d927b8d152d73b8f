"""List every truncated or corrupt JPEG, PNG or BMP file under one or more folders (headers and end markers are
checked; nothing is decoded), so that all of them can be removed or replaced at once.

    python -m src.tools.check_images FOLDER [FOLDER ...]

Prints `path<TAB>what is wrong` per bad file and a summary; exits 1 when any file is bad.
"""
import argparse
import os
import sys
import time

from src.cli import run_main
from src.data.image_check import IMAGE_EXTENSIONS, find_bad_images


def _run(args) -> int:
    for root in args.folders:
        if not os.path.isdir(root):
            raise FileNotFoundError(f"'{root}' is not a folder")
    start = time.time()
    bad = 0
    checked = sum(name.lower().endswith(IMAGE_EXTENSIONS) for root in args.folders
                  for _, _, names in os.walk(root) for name in names)
    for root in args.folders:
        for path, message in find_bad_images(root):
            bad += 1
            print(f"{path}\t{message}", flush=True)
    sys.stderr.write(f"{bad} bad of {checked} images checked in {time.time() - start:.1f} s\n")
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.check_images", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+")
    return run_main("check_images", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())

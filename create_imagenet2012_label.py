"""Write the label json of an image folder: {result key: class index}.

    python create_imagenet2012_label.py --img_path DIR [--output imagenet_label.json]

DIR holds one sub-folder per class (sorted names give the class indices, as in training). The keys are the names
the inference harness gives each image (see src/deploy.py), so postprocess.py can match `result_Files/`.
"""
import argparse
import json
import os
import sys

from src.cli import run_main
from src.data.folders import scan_image_folder
from src.deploy import list_images, result_keys


def build_labels(img_path: str) -> dict:
    if not os.path.isdir(img_path):
        raise FileNotFoundError(f"image folder '{img_path}' does not exist" if not os.path.exists(img_path)
                                else f"--img_path '{img_path}' is a file, not a folder of class folders")
    _, classes = scan_image_folder(img_path, check="none")
    index = {c: i for i, c in enumerate(classes)}
    labels = {}
    for key, path in result_keys(img_path, list_images(img_path)).items():
        top = os.path.relpath(path, img_path).split(os.sep)[0]
        if top not in index:
            raise ValueError(f"image '{path}' is not inside a class folder of '{img_path}'")
        labels[key] = index[top]
    return labels


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="create_imagenet2012_label.py", description=__doc__.splitlines()[0])
    parser.add_argument("--img_path", required=True)
    parser.add_argument("--output", default="imagenet_label.json")
    return run_main("create_imagenet2012_label.py", parser.parse_args, _run, argv)


def _run(args) -> int:
    labels = build_labels(args.img_path)
    with open(args.output, "w") as f:
        json.dump(labels, f, indent=0, sort_keys=True)
    print(f"wrote {len(labels)} labels ({len(set(labels.values()))} classes) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

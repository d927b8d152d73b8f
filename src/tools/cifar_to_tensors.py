"""Write the CIFAR-10 test batch as one preprocessed float32 CHW tensor per image, for the inference harness's
--input_format=tensor (the model zoo's MobileNetV1 310 flow on cifar-10-verify-bin), and their labels.

    python -m src.tools.cifar_to_tensors --data_path cifar-10-verify-bin --output_dir DIR [--model_path FILE]
                                         [--label_file cifar_label.json]

Writes DIR/<index:05d>.bin (eval.py's CIFAR-10 preprocessing: resize to the image size when it is not 32,
normalise) and the label json {key: class index} postprocess.py reads. The image size, mean and std come from the
exported file's model record (--model_path), else 32 and CIFAR-10's mean and std.
"""
import argparse
import json
import os
import sys

import numpy as np
from mindspore.dataset import transforms

from ..cli import run_main
from ..data.folders import read_cifar10, resolve_cifar10
from ..data.preprocessing import CIFAR10_MEAN, CIFAR10_STD, Preprocessing
from ..data.transforms import cifar_eval_transforms
from ..deploy import read_file_record


def write_tensors(data_path: str, output_dir: str, preprocessing: Preprocessing, label_file: str) -> int:
    folder, usage = resolve_cifar10(data_path, "val")
    images, labels = read_cifar10(folder, usage)
    preprocess = transforms.Compose(cifar_eval_transforms(preprocessing.image_size, preprocessing.mean,
                                                          preprocessing.std))
    os.makedirs(output_dir, exist_ok=True)
    keys = {}
    for index, (image, label) in enumerate(zip(images, labels)):
        tensor = preprocess(image)
        tensor = tensor[0] if isinstance(tensor, (tuple, list)) else tensor
        key = f"{index:05d}"
        np.ascontiguousarray(tensor, np.float32).tofile(os.path.join(output_dir, key + ".bin"))
        keys[key] = int(label)
    with open(label_file, "w") as f:
        json.dump(keys, f, indent=0, sort_keys=True)
    return len(keys)


def _run(args) -> int:
    record = read_file_record(args.model_path) if args.model_path else None
    preprocessing = (record.preprocessing if record is not None else
                     Preprocessing(32, 32, "bilinear", CIFAR10_MEAN, CIFAR10_STD))
    count = write_tensors(args.data_path, args.output_dir, preprocessing, args.label_file)
    print(f"wrote {count} tensors of {preprocessing.image_size}x{preprocessing.image_size} to {args.output_dir}; "
          f"labels in {args.label_file}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.cifar_to_tensors",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data_path", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--model_path", default="", help="the exported .mindir / .onnx whose record gives the "
                                                         "preprocessing")
    parser.add_argument("--label_file", default="cifar_label.json")
    return run_main("cifar_to_tensors", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())

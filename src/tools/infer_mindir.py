"""Reference runner for machines without an Ascend 310: the harness's job in Python.

    python -m src.tools.infer_mindir --model_path FILE.mindir|FILE.onnx --dataset_path DIR [--output_dir .]
                                     [--image_size 224] [--resize_size 256]

Runs a MINDIR (ms.load + nn.GraphCell) or an ONNX file (onnxruntime) over every image under DIR (class
sub-folders or flat) with the harness's preprocessing (decode, resize, centre crop, normalise, CHW; the values come
from the model record inside the file, the options override them), one image at a time, and writes what
ascend310_infer's main writes: `result_Files/<key>_0.bin` (raw float32 logits) and
`time_Result/test_perform_static.txt` (mean latency). `--input_format tensor` reads .bin files of preprocessed
float32 CHW tensors instead (python -m src.tools.cifar_to_tensors writes them for CIFAR-10).
"""
import argparse
import os
import sys
import time

import numpy as np
from mindspore.dataset import transforms

from ..cli import run_main
from ..data.folders import check_image_file
from ..data.preprocessing import Preprocessing, resolve_preprocessing
from ..data.transforms import folder_eval_transforms
from ..deploy import RESULT_SUFFIX, list_images, make_predictor, read_file_record, result_keys
from ..errors import DataError
from ..models import DefaultCfg, get_default_cfg


def preprocess_fn(preprocessing: Preprocessing):
    """Eager MindSpore transforms identical to eval.py's: file bytes -> float32 CHW."""
    return transforms.Compose(folder_eval_transforms(preprocessing.image_size, preprocessing.eval_resize,
                                                     preprocessing.mean, preprocessing.std,
                                                     preprocessing.interpolation))


def _tensor_files(root: str):
    found = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
                   if f.endswith(".bin"))
    if not found:
        raise DataError(f"no .bin input files found under '{root}'")
    return [os.path.join(root, rel) for rel in found]


def run(model_path: str, dataset_path: str, preprocessing: Preprocessing, output_dir: str = ".",
        input_format: str = "image") -> int:
    tensors = input_format == "tensor"
    keys = result_keys(dataset_path, _tensor_files(dataset_path) if tensors else list_images(dataset_path))
    predict = make_predictor(model_path)
    preprocess = preprocess_fn(preprocessing)
    shape = (3, preprocessing.image_size, preprocessing.image_size)
    result_dir = os.path.join(output_dir, "result_Files")
    os.makedirs(result_dir, exist_ok=True)
    latencies = []
    for key, path in keys.items():
        if tensors:
            image = np.fromfile(path, dtype=np.float32)
            if image.size != np.prod(shape):
                raise DataError(f"input '{path}' holds {image.size} values, not a {shape} tensor")
            image = image.reshape(shape)
        else:
            check_image_file(path)  # a truncated JPEG would crash MindSpore's decoder without a message
            try:
                image = preprocess(np.fromfile(path, dtype=np.uint8))
            except RuntimeError as e:
                raise DataError(f"corrupt image '{path}': {str(e).splitlines()[0][:200]}") from None
            image = image[0] if isinstance(image, (tuple, list)) else image
        start = time.perf_counter()
        logits = predict(np.ascontiguousarray(image[None], dtype=np.float32))
        latencies.append((time.perf_counter() - start) * 1000)
        np.asarray(logits, np.float32).tofile(os.path.join(result_dir, key + RESULT_SUFFIX))
    time_dir = os.path.join(output_dir, "time_Result")
    os.makedirs(time_dir, exist_ok=True)
    with open(os.path.join(time_dir, "test_perform_static.txt"), "w") as f:
        f.write(f"NN inference cost average time: {np.mean(latencies):.3f} ms of infer_count {len(latencies)}\n")
    print(f"processed {len(latencies)} images, mean latency {np.mean(latencies):.3f} ms; results in {result_dir}")
    return len(latencies)


def _floats(text: str):
    return [float(v) for v in text.split(",")]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.infer_mindir", description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", "--mindir_path", dest="model_path", required=True)
    parser.add_argument("--dataset_path", required=True)
    parser.add_argument("--output_dir", default=".")
    parser.add_argument("--model", default="", help="for a file without a model record: the network whose default "
                                                    "config gives the preprocessing")
    parser.add_argument("--input_format", default="image", choices=["image", "tensor"])
    parser.add_argument("--image_size", type=int, default=None)
    parser.add_argument("--resize_size", "--eval_resize", dest="eval_resize", type=int, default=None)
    parser.add_argument("--mean", type=_floats, default=None, help="three values, e.g. 0.485,0.456,0.406")
    parser.add_argument("--std", type=_floats, default=None)
    return run_main("infer_mindir", parser.parse_args, _run, argv)


def _run(args) -> int:
    record = read_file_record(args.model_path)
    model = args.model or (record.model if record else "")
    default_cfg = get_default_cfg(model) if model else DefaultCfg()
    given = {"image_size": args.image_size, "eval_resize": args.eval_resize, "mean": args.mean, "std": args.std}
    preprocessing = resolve_preprocessing(default_cfg, given, record.preprocessing.to_dict() if record else None,
                                          dataset=record.dataset if record else "imagenet")
    run(args.model_path, args.dataset_path, preprocessing, args.output_dir, args.input_format)
    return 0


if __name__ == "__main__":
    sys.exit(main())

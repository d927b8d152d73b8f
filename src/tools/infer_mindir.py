"""Reference runner for machines without an Ascend 310: the harness's job in Python.

    python -m src.tools.infer_mindir --model_path FILE.mindir|FILE.onnx --dataset_path DIR [--output_dir .]
                                     [--image_size 224] [--resize_size 256]

Runs a MINDIR (ms.load + nn.GraphCell) or an ONNX file (onnxruntime) over every image under DIR (class
sub-folders or flat) with the harness's preprocessing (decode, resize 256, centre crop 224, normalise, CHW), one
image at a time, and writes what ascend310_infer's main writes: `result_Files/<key>_0.bin` (raw float32 logits)
and `time_Result/test_perform_static.txt` (mean latency).
"""
import argparse
import os
import sys
import time

import numpy as np


def preprocess_fn(image_size: int, resize_size: int):
    """Eager MindSpore transforms identical to eval.py's: file bytes -> float32 CHW."""
    from mindspore.dataset import transforms
    from src.data.transforms import IMAGENET_MEAN, IMAGENET_STD, folder_eval_transforms
    return transforms.Compose(folder_eval_transforms(image_size, resize_size, IMAGENET_MEAN, IMAGENET_STD))


def make_predictor(model_path: str):
    if not os.path.isfile(model_path):
        raise FileNotFoundError(f"model file '{model_path}' does not exist")
    if model_path.endswith(".onnx"):
        from src.onnx_eval import onnx_session, predict_batches
        session = onnx_session(model_path)
        return lambda batch: predict_batches(session, batch)
    if model_path.endswith(".mindir"):
        import mindspore as ms
        from mindspore import nn
        try:
            cell = nn.GraphCell(ms.load(model_path))
        except Exception as e:  # MindSpore raises several types for unreadable files
            raise ValueError(f"cannot load MINDIR '{model_path}': {str(e).splitlines()[0][:200]}") from None
        return lambda batch: cell(ms.Tensor(batch)).asnumpy()
    raise ValueError(f"'{model_path}': expected a .mindir or .onnx file")


def run(model_path: str, dataset_path: str, output_dir: str = ".", image_size: int = 224,
        resize_size: int = 256) -> int:
    from src.deploy import RESULT_SUFFIX, list_images, result_keys
    from src.errors import DataError
    keys = result_keys(dataset_path, list_images(dataset_path))
    predict = make_predictor(model_path)
    preprocess = preprocess_fn(image_size, resize_size)
    result_dir = os.path.join(output_dir, "result_Files")
    os.makedirs(result_dir, exist_ok=True)
    latencies = []
    for key, path in keys.items():
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.infer_mindir", description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", "--mindir_path", dest="model_path", required=True)
    parser.add_argument("--dataset_path", required=True)
    parser.add_argument("--output_dir", default=".")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--resize_size", type=int, default=256)
    from src.cli import run_argparse
    return run_argparse("infer_mindir", parser, _run, argv)


def _run(args) -> int:
    from src.runtime import configure_cpu_kernels
    configure_cpu_kernels()
    run(args.model_path, args.dataset_path, args.output_dir, args.image_size, args.resize_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())

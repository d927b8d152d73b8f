"""Top-1 / top-5 of an ONNX file over an image folder, with exactly the preprocessing of eval.py.

    python eval_onnx.py --onnx_path FILE.onnx --data_path DIR [--config configs/X.yaml] [--batch_size 32]
                        [--device_target CPU|GPU]

Prints the same `result: {...} ckpt=FILE.onnx` line as eval.py. A file exported with a fixed batch size is fed
batches of that size, the last one padded (the padding's outputs are dropped).
"""
import argparse
import sys

from src.cli import run_argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval_onnx.py", description="Score an ONNX file on an image folder.")
    parser.add_argument("--onnx_path", required=True)
    parser.add_argument("--data_path", required=True, help="root with val/ (or a split folder), or CIFAR-10 bin")
    parser.add_argument("--config", default="", help="recipe giving the data set kind and eval preprocessing")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--device_target", default="CPU", choices=["CPU", "GPU"],
                        help="GPU uses onnxruntime's CUDA provider")
    parser.add_argument("--result_json", default="")
    return parser


def _run(args) -> int:
    from src.onnx_eval import evaluate_onnx
    evaluate_onnx(args.onnx_path, args.data_path, args.config, args.batch_size, args.device_target, args.result_json)
    return 0


def main(argv=None) -> int:
    return run_argparse("eval_onnx.py", build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())

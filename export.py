"""Export a checkpoint to MINDIR, ONNX or AIR.

    python export.py --model NAME --checkpoint_path CKPT --file_format MINDIR|ONNX|AIR --file_name OUT
                     [--batch_size 1] [--image_size 224] [--num_classes N] [--config configs/X.yaml]

The exported graph is the eval-mode network (no dropout, BatchNorm with its moving statistics). --batch_size 0
exports a dynamic batch dimension. AIR needs MindSpore's Ascend backend.
"""
import argparse
import sys

from src.cli import run_argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="export.py", description="Export a checkpoint to MINDIR, ONNX or AIR.")
    parser.add_argument("--config", default="", help="recipe giving model, num_classes and image_size")
    parser.add_argument("--model", default="", help="model name (overrides the recipe)")
    parser.add_argument("--checkpoint_path", required=True)
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=["MINDIR", "ONNX", "AIR"])
    parser.add_argument("--file_name", default="", help="output path; the format's suffix is added (default: model)")
    parser.add_argument("--batch_size", type=int, default=1, help="input batch size; 0 for a dynamic batch")
    parser.add_argument("--image_size", type=int, default=0, help="input height and width (default: recipe or 224)")
    parser.add_argument("--num_classes", type=int, default=0, help="default: the checkpoint's classifier rows")
    parser.add_argument("--device_target", default="auto", choices=["auto", "CPU", "GPU", "Ascend"])
    parser.add_argument("--device_id", type=int, default=0)
    return parser


def _run(args) -> int:
    from src.config import build_config
    from src.checkpoint import load_weights, read_checkpoint, split_training_state
    from src.deploy import export_model, head_classes
    from src.models import create_model
    from src.runtime import setup_runtime
    overrides = ["--config", args.config] if args.config else []
    overrides += ["--device_target", args.device_target, "--device_id", str(args.device_id)]
    cfg = build_config(overrides)
    model = args.model or (cfg.model if args.config else "")
    if not model:
        raise ValueError("pass --model NAME or --config FILE.yaml")
    if args.batch_size < 0:
        raise ValueError(f"--batch_size must be 0 (dynamic) or positive, got {args.batch_size}")
    image_size = args.image_size or (cfg.image_size if args.config else 224)
    runtime = setup_runtime(cfg)
    params, _ = split_training_state(read_checkpoint(args.checkpoint_path))
    num_classes = args.num_classes or head_classes(params)
    net = create_model(model, num_classes=num_classes, image_size=image_size)
    load_weights(net, args.checkpoint_path)
    path = export_model(net, args.file_name or model, args.file_format, args.batch_size, image_size,
                        runtime.device_target)
    print(f"exported {model} ({num_classes} classes, input {args.batch_size or 'N'}x3x{image_size}x{image_size}) "
          f"to {path}")
    return 0


def main(argv=None) -> int:
    return run_argparse("export.py", build_parser(), _run, argv)


if __name__ == "__main__":
    sys.exit(main())

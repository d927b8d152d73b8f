"""Export a checkpoint to MINDIR, ONNX or AIR.

    python export.py --model NAME --checkpoint_path CKPT --file_format MINDIR|ONNX|AIR --file_name OUT
                     [--batch_size 1] [--image_size 224] [--num_classes N] [--config configs/X.yaml]
                     [--reparam true|false]

The exported graph is the eval-mode network (no dropout, BatchNorm with its moving statistics). --batch_size 0
exports a dynamic batch dimension. AIR needs MindSpore's Ascend backend. Re-parameterisable networks (GhostNetV3,
RepGhost) are exported deployed, their training-time branches folded into single convolutions, unless
--reparam false; for the other networks it changes nothing.
"""
import argparse
import sys

from src.cli import run_main
from src.config import recipe_values, to_bool
from src.deploy import FILE_FORMATS, export_model, head_classes
from src.engine.checkpoint import load_weights, read_checkpoint, split_training_state
from src.models import check_model_name, create_model, get_default_cfg, reparameterize
from src.runtime import setup_runtime

PROG = "export.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Export a checkpoint to MINDIR, ONNX or AIR.")
    parser.add_argument("--config", default="", help="recipe giving model and image_size")
    parser.add_argument("--model", default="", help="model name (overrides the recipe)")
    parser.add_argument("--checkpoint_path", required=True)
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=FILE_FORMATS)
    parser.add_argument("--file_name", default="", help="output path; the format's suffix is added (default: model)")
    parser.add_argument("--batch_size", type=int, default=1, help="input batch size; 0 for a dynamic batch")
    parser.add_argument("--image_size", type=int, default=0, help="input height and width (default: recipe or the "
                                                                  "model's input size)")
    parser.add_argument("--num_classes", type=int, default=0, help="default: the checkpoint's classifier rows")
    parser.add_argument("--device_target", default="auto", choices=["auto", "CPU", "GPU", "Ascend"])
    parser.add_argument("--device_id", type=int, default=0)
    parser.add_argument("--reparam", type=_bool, default=True, metavar="true|false",
                        help="fold re-parameterisable branches (GhostNetV3, RepGhost) into single convolutions "
                             "before export (default true)")
    return parser


def _bool(value: str) -> bool:
    try:
        return to_bool(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def export(args) -> str:
    recipe = recipe_values(args.config, ("model", "image_size")) if args.config else {}
    model = args.model or recipe.get("model", "")
    if not model:
        raise ValueError("pass --model NAME or --config FILE.yaml")
    check_model_name(model)
    if args.batch_size < 0:
        raise ValueError(f"--batch_size must be 0 (dynamic) or positive, got {args.batch_size}")
    default_cfg = get_default_cfg(model)
    image_size = args.image_size or recipe.get("image_size") or default_cfg.input_size
    runtime = setup_runtime(args.device_target, args.device_id)
    params, _ = split_training_state(read_checkpoint(args.checkpoint_path))
    num_classes = args.num_classes or head_classes(params, default_cfg.classifier)
    net = create_model(model, num_classes=num_classes, image_size=image_size)
    load_weights(net, args.checkpoint_path)
    if args.reparam and reparameterize(net):
        print(f"re-parameterised {model}: training-time branches folded into single convolutions "
              f"(--reparam false keeps them)")
    path = export_model(net, args.file_name or model, args.file_format, args.batch_size, image_size,
                        runtime.device_target)
    print(f"exported {model} ({num_classes} classes, input {args.batch_size or 'N'}x3x{image_size}x{image_size}) "
          f"to {path}")
    return path


def main(argv=None) -> int:
    def body(args) -> int:
        export(args)
        return 0
    return run_main(PROG, build_parser().parse_args, body, argv)


if __name__ == "__main__":
    sys.exit(main())

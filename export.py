"""Export a checkpoint to MINDIR, ONNX or AIR.

    python export.py --checkpoint_path CKPT [--file_format MINDIR|ONNX|AIR] [--file_name OUT] [--batch_size 1]
                     [--device_target CPU] [--model NAME] [--image_size N] [--num_classes N] [--config X.yaml]
                     [--reparam true|false]

The model, class count, classes and preprocessing come from the checkpoint (its record, or its parameter names for
a checkpoint without one) and go into the exported file; a command-line value overrides them. The model zoo's
`--ckpt_file` is accepted for --checkpoint_path. The exported graph is the eval-mode network (no dropout, BatchNorm
with its moving statistics). --batch_size 0 exports a dynamic batch dimension. AIR needs MindSpore's Ascend backend.
Re-parameterisable networks (GhostNetV3, RepGhost) are exported deployed, their training-time branches folded into
single convolutions, unless --reparam false; for the other networks it changes nothing.
"""
import argparse
import sys

from src.cli import run_main
from src.config import merge_aliases, recipe_values, to_bool
from src.data.preprocessing import PREPROCESSING_KEYS, resolve_preprocessing
from src.deploy import FILE_FORMATS, export_model, export_path
from src.engine.checkpoint import load_opened, open_checkpoint
from src.engine.record import ModelRecord
from src.models import create_model, get_default_cfg, reparameterize
from src.outputs import check_output_file
from src.runtime import setup_runtime

PROG = "export.py"
CHECKPOINT_ALIASES = ("ckpt_file", "ckpt_path")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Export a checkpoint to MINDIR, ONNX or AIR.")
    parser.add_argument("--checkpoint_path", default=None, help="the checkpoint (also --ckpt_file, --ckpt_path)")
    for alias in CHECKPOINT_ALIASES:
        parser.add_argument(f"--{alias}", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--file_format", default="MINDIR", type=str.upper, choices=FILE_FORMATS)
    parser.add_argument("--file_name", default="", help="output path; the format's suffix is added (default: the "
                                                        "model's name)")
    parser.add_argument("--batch_size", type=int, default=1, help="input batch size; 0 for a dynamic batch")
    parser.add_argument("--model", default="", help="the network (default: the checkpoint's)")
    parser.add_argument("--image_size", type=int, default=0, help="input height and width (default: the "
                                                                  "checkpoint's, the recipe's, or the model's)")
    parser.add_argument("--num_classes", type=int, default=0, help="default: the checkpoint's classifier rows")
    parser.add_argument("--config", "-c", default="", help="a recipe, for values the checkpoint does not record")
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
    given = {name: getattr(args, name) for name in ("checkpoint_path",) + CHECKPOINT_ALIASES
             if getattr(args, name) is not None}
    checkpoint = merge_aliases(given, "the command line").get("checkpoint_path")
    if not checkpoint:
        raise ValueError("no checkpoint given: pass --checkpoint_path FILE.ckpt")
    if args.batch_size < 0:
        raise ValueError(f"--batch_size must be 0 (dynamic) or positive, got {args.batch_size}")
    recipe = recipe_values(args.config, ("model",) + PREPROCESSING_KEYS) if args.config else {}
    runtime = setup_runtime(args.device_target, args.device_id)
    opened = open_checkpoint(checkpoint, args.model or None, args.num_classes or None)
    record = opened.record
    check_output_file(export_path(args.file_name or opened.model, args.file_format), "--file_name")
    preprocessing = resolve_preprocessing(get_default_cfg(opened.model),
                                          {"image_size": args.image_size or None},
                                          record.preprocessing.to_dict() if record else None, recipe,
                                          dataset=record.dataset if record else "imagenet")
    image_size = preprocessing.image_size
    net = create_model(opened.model, num_classes=opened.num_classes, image_size=image_size)
    load_opened(net, opened)
    if args.reparam and reparameterize(net):
        print(f"re-parameterised {opened.model}: training-time branches folded into single convolutions "
              f"(--reparam false keeps them)")
    exported = ModelRecord(opened.model, opened.num_classes, preprocessing, record.classes if record else None,
                           record.dataset if record else "", record.data_path if record else "",
                           f"{PROG} of {checkpoint}", record.config if record else {})
    path = export_model(net, args.file_name or opened.model, args.file_format, args.batch_size, image_size,
                        runtime.device_target, exported)
    print(f"exported {opened.model} ({opened.num_classes} classes, input {args.batch_size or 'N'}x3x{image_size}x"
          f"{image_size}; {opened.how}) to {path}")
    return path


def main(argv=None) -> int:
    def body(args) -> int:
        export(args)
        return 0
    return run_main(PROG, build_parser().parse_args, body, argv)


if __name__ == "__main__":
    sys.exit(main())

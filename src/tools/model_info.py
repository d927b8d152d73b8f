"""Print the trainable parameters and the MACs of every registered model (or of those named).

    python -m src.tools.model_info [--num_classes 1000] [--image_size 224] [NAME ...]

MACs are the multiply-accumulates of the convolutions and dense layers for one image. A re-parameterisable network
(GhostNetV3, RepGhost) gets two rows: as trained (its training-time branches) and deployed (`NAME (deployed)`,
after `reparameterize`, as export.py and eval.py run it).
"""
import argparse
import sys

from ..cli import run_main
from ..models import check_model_name, count_macs, count_params, create_model, list_models, reparameterize


def _run(args) -> int:
    names = args.models or list_models()
    for name in names:
        check_model_name(name)
    print(f"| model | parameters ({args.num_classes} classes) | MACs at {args.image_size}x{args.image_size} |")
    print("| --- | ---: | ---: |")
    for name in names:
        net = create_model(name, num_classes=args.num_classes, image_size=args.image_size)
        print(_row(name, net, args.image_size), flush=True)
        if reparameterize(net):
            print(_row(f"{name} (deployed)", net, args.image_size), flush=True)
    return 0


def _row(label: str, net, image_size: int) -> str:
    return f"| {label} | {count_params(net):,} | {count_macs(net, image_size) / 1e6:,.1f}M |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__package__}.model_info", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: every registered model)")
    parser.add_argument("--num_classes", type=int, default=1000)
    parser.add_argument("--image_size", type=int, default=224)
    return run_main("model_info", parser.parse_args, _run, argv)


if __name__ == "__main__":
    sys.exit(main())

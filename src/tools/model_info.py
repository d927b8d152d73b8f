"""Print the trainable parameter count of every registered model (or of those named).

    python -m src.tools.model_info [--num_classes 1000] [NAME ...]
"""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.tools.model_info", description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: every registered model)")
    parser.add_argument("--num_classes", type=int, default=1000)
    args = parser.parse_args(argv)
    from src.models import count_params, create_model, list_models
    names = args.models or list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        sys.stderr.write(f"error: unknown model '{unknown[0]}'; known: {', '.join(list_models())}\n")
        return 2
    print(f"| model | parameters ({args.num_classes} classes) |")
    print("| --- | ---: |")
    for name in names:
        print(f"| {name} | {count_params(create_model(name, num_classes=args.num_classes)):,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

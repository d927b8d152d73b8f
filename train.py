"""Train a zoo network: `python train.py --config configs/X.yaml --data_path DIR --output_dir DIR [--KEY VALUE]`."""
import sys

from src.cli import run_main


def _train(cfg) -> int:
    from src.training import train
    train(cfg)
    return 0


def main(argv=None) -> int:
    return run_main("train.py", "Train a network of the zoo; every config key can be overridden.", _train, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Fine-tune a checkpoint on a folder of images (one sub-folder per class):

    python fine_tune.py --config configs/ghostnet_100_flowers.yaml --pretrained_ckpt IMAGENET.ckpt --data_path DIR

The checkpoint may be ours, converted (python -m src.tools.convert_weights) or of another class count: a head
that does not fit is replaced through the network's reset_classifier. --freeze_epochs N trains only the new
classifier for the first N epochs. Logs, checkpoints, validation and --resume are those of train.py (the same
training code). The model zoo's `--pre_trained` is accepted for --pretrained_ckpt.
"""
import sys

from src.cli import run_main
from src.config import parse_config
from src.errors import ConfigError
from train import train

PROG = "fine_tune.py"
DESCRIPTION = "Fine-tune a checkpoint on a class-folder data set."


def fine_tune(cfg) -> dict:
    if not cfg.pretrained_ckpt and not cfg.resume:
        raise ConfigError("fine-tuning needs --pretrained_ckpt FILE.ckpt (or --resume to continue a fine-tune run)")
    return train(cfg)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = ["--pretrained_ckpt" if a == "--pre_trained" else a.replace("--pre_trained=", "--pretrained_ckpt=")
            for a in argv]

    def body(parsed) -> int:
        fine_tune(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(args, PROG, DESCRIPTION), body, argv)


if __name__ == "__main__":
    sys.exit(main())

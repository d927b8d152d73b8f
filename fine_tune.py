"""Fine-tune a checkpoint on a folder of images (one sub-folder per class):

    python fine_tune.py --config configs/ghostnet_100_flowers.yaml --pretrained_ckpt IMAGENET.ckpt --data_path DIR

The checkpoint may be ours, converted (python -m src.tools.convert_weights) or of another class count: a head
that does not fit is replaced through the network's reset_classifier. --freeze_epochs N trains only the new
classifier for the first N epochs. Logs, checkpoints, validation and --resume are those of train.py (the same
training code). The model zoo's `--pre_trained` is accepted for --pretrained_ckpt.
"""
import sys

from src.cli import run_main
from src.errors import ConfigError


def _fine_tune(cfg) -> int:
    if not cfg.pretrained_ckpt and not cfg.resume:
        raise ConfigError("fine-tuning needs --pretrained_ckpt FILE.ckpt (or --resume to continue a fine-tune run)")
    from src.training import train
    train(cfg)
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = ["--pretrained_ckpt" if a == "--pre_trained" else a.replace("--pre_trained=", "--pretrained_ckpt=")
            for a in argv]
    return run_main("fine_tune.py", "Fine-tune a checkpoint on a class-folder data set.", _fine_tune, argv)


if __name__ == "__main__":
    sys.exit(main())

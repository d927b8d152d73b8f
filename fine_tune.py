"""Fine-tune a checkpoint on a folder of images (one sub-folder per class):

    python fine_tune.py --pre_trained CKPT [--data_path DIR] [--config configs/X.yaml] [--KEY VALUE ...]

As the model zoo's fine_tune.py, run in a folder holding ./dataset/train and ./dataset/test: the model comes from
the checkpoint (its record, or its parameter names: the model zoo's ghostnet_1x_pets.ckpt is a ghostnet_100), the
recipe defaults to configs/<model>_flowers.yaml when there is one, the data to ./dataset, and the class count to the
data's. The checkpoint may be ours, converted (python -m src.tools.convert_weights) or of another class count: a
head that does not fit is replaced through the network's reset_classifier. --freeze_epochs N trains only the new
classifier for the first N epochs. Logs (with the zoo's `Train epoch time` line), checkpoints, validation and
--resume are those of train.py (the same training code).
"""
import os
import sys
from typing import List, Optional

from src.cli import run_main
from src.config import parse_config
from src.engine.checkpoint import open_checkpoint
from src.errors import ConfigError
from src.weights.cli import expand_pretrained
from train import train

PROG = "fine_tune.py"
DESCRIPTION = "Fine-tune a checkpoint on a class-folder data set."
RECIPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DEFAULT_DATA = "dataset"  # the model zoo's ./dataset/train and ./dataset/test next to fine_tune.py


def defaults_from_checkpoint(argv: List[str], recipes: Optional[str] = None) -> List[str]:
    """`argv` with what the model zoo's fine_tune.py took from its folder: the model of the --pre_trained
    checkpoint, its flowers recipe (when no --config is given and there is one), and ./dataset (when it exists and
    neither the command line nor the recipe names the data)."""
    recipes = recipes or RECIPES
    cfg, own = parse_config(argv, PROG, DESCRIPTION)
    added: List[str] = []
    checkpoint = cfg.pretrained_ckpt or cfg.resume
    if checkpoint and os.path.isfile(checkpoint):
        opened = open_checkpoint(checkpoint)
        if cfg.source("model") != "default" and cfg.model != opened.model:
            where = "--model" if cfg.from_command_line("model") else "the recipe's model"
            raise ConfigError(f"{where} {cfg.model} contradicts the checkpoint '{checkpoint}', which holds a "
                              f"{opened.model} ({opened.how}): leave it out, or pass a {cfg.model} checkpoint")
        recipe = os.path.join(recipes, f"{opened.model}_flowers.yaml")
        if getattr(own, "config", None) is None and os.path.isfile(recipe):
            added += ["--config", recipe]
            print(f"recipe: {recipe} (for the {opened.model} of {checkpoint})")
        if cfg.source("model") == "default":
            added += ["--model", opened.model]
    with_recipe, _ = parse_config(added + list(argv), PROG, DESCRIPTION)
    if not with_recipe.data_path and os.path.isdir(DEFAULT_DATA):
        added += ["--data_path", DEFAULT_DATA]
        print(f"data: ./{DEFAULT_DATA}")
    return added + list(argv)


def fine_tune(cfg) -> dict:
    if not cfg.pretrained_ckpt and not cfg.resume:
        raise ConfigError("fine-tuning needs --pretrained_ckpt FILE.ckpt (the model zoo's --pre_trained), or --resume "
                          "to continue a fine-tune run")
    return train(cfg, source=PROG, epoch_time_label="Train epoch time")


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)

    def parse(args):
        args = expand_pretrained(args, "--pretrained_ckpt")
        return parse_config(defaults_from_checkpoint(args), PROG, DESCRIPTION)

    def body(parsed) -> int:
        fine_tune(parsed[0])
        return 0
    return run_main(PROG, parse, body, argv)


if __name__ == "__main__":
    sys.exit(main())

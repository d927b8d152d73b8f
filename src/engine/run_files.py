"""The files of a training run, named in one place: OUTPUT_DIR/train.log (train_rank<r>.log under a launcher),
config.yaml, samples_rank<r>.txt, predictions.png, and in OUTPUT_DIR/ckpt/ the periodic checkpoints
`<model>-<epoch>_<steps>.ckpt` (the model zoo's names), `<model>_best.ckpt`, `<model>_ema.ckpt` and
`<model>_interrupted.ckpt` (a run stopped by a signal)."""
import os
import re
from dataclasses import dataclass
from typing import List, Tuple

CHECKPOINT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d+)_(?P<steps>\d+)\.ckpt$")


def periodic_name(model: str, epoch: int, steps: int) -> str:
    return f"{model}-{epoch}_{steps}.ckpt"


def best_name(model: str) -> str:
    return f"{model}_best.ckpt"


def ema_name(model: str) -> str:
    return f"{model}_ema.ckpt"


def interrupted_name(model: str) -> str:
    """The checkpoint a run stopped by a signal writes, mid-epoch."""
    return f"{model}_interrupted.ckpt"


def periodic_checkpoints(directory: str, prefix: str) -> List[Tuple[int, str]]:
    """(epoch, path) of every `<prefix>-<epoch>_<steps>.ckpt` in `directory`, oldest epoch first."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = CHECKPOINT_NAME.match(name)
        if match and match.group("prefix") == prefix:
            found.append((int(match.group("epoch")), os.path.join(directory, name)))
    return sorted(found)


@dataclass(frozen=True)
class RunPaths:
    """Where one rank of a run writes."""
    output_dir: str
    model: str
    rank: int = 0
    distributed: bool = False

    @property
    def ckpt_dir(self) -> str:
        return os.path.join(self.output_dir, "ckpt")

    @property
    def log(self) -> str:
        return os.path.join(self.output_dir, f"train_rank{self.rank}.log" if self.distributed else "train.log")

    @property
    def config(self) -> str:
        return os.path.join(self.output_dir, "config.yaml")

    @property
    def samples(self) -> str:
        return os.path.join(self.output_dir, f"samples_rank{self.rank}.txt")

    @property
    def predictions(self) -> str:
        return os.path.join(self.output_dir, "predictions.png")

    @property
    def best(self) -> str:
        return os.path.join(self.ckpt_dir, best_name(self.model))

    @property
    def ema(self) -> str:
        return os.path.join(self.ckpt_dir, ema_name(self.model))

    def periodic(self) -> List[Tuple[int, str]]:
        return periodic_checkpoints(self.ckpt_dir, self.model)

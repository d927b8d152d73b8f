"""What an image goes through before the network: crop size, evaluation resize, interpolation, mean and std.

The values come, by precedence, from what the user set (recipe or command line), what a checkpoint or exported
file records, the data set (CIFAR-10's own mean and std), and the model's default config.
"""
from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence, Tuple

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)


@dataclass(frozen=True)
class Preprocessing:
    image_size: int                       # training crop and evaluation crop
    eval_resize: int                      # evaluation: the short side before the centre crop
    interpolation: str
    mean: Tuple[float, float, float]      # of 0..1 RGB values
    std: Tuple[float, float, float]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["mean"], out["std"] = list(self.mean), list(self.std)
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> "Preprocessing":
        return cls(int(values["image_size"]), int(values["eval_resize"]), str(values["interpolation"]),
                   tuple(float(v) for v in values["mean"]), tuple(float(v) for v in values["std"]))


def resolve_preprocessing(default_cfg, *, dataset: str = "imagenet", image_size: Optional[int] = None,
                          eval_resize: Optional[int] = None, interpolation: Optional[str] = None,
                          mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                          recorded: Optional[Mapping] = None) -> Preprocessing:
    """The preprocessing of a model (`default_cfg`, a registry.DefaultCfg) on `dataset`; the other arguments are
    what the user set (None: not set) and what a checkpoint `recorded` (None: nothing)."""
    recorded = dict(recorded or {})
    cifar = dataset == "cifar10"

    def pick(given, key, dataset_value, model_value):
        if given is not None:
            return given
        if key in recorded and recorded[key] is not None:
            return recorded[key]
        return dataset_value if dataset_value is not None else model_value

    size = pick(image_size, "image_size", None, default_cfg.input_size)
    if eval_resize is None and image_size is not None:
        resize = round(image_size / default_cfg.crop_fraction)  # the model's crop fraction at the given size
    else:
        resize = pick(eval_resize, "eval_resize", None, default_cfg.eval_resize)
    return Preprocessing(
        image_size=int(size), eval_resize=int(resize),
        interpolation=str(pick(interpolation, "interpolation", None, default_cfg.interpolation)),
        mean=tuple(float(v) for v in pick(mean, "mean", CIFAR10_MEAN if cifar else None, default_cfg.mean)),
        std=tuple(float(v) for v in pick(std, "std", CIFAR10_STD if cifar else None, default_cfg.std)))

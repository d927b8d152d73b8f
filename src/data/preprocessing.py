"""What an image goes through before the network: crop size, evaluation resize, interpolation, mean and std.

The values come, by precedence, from what the user set (recipe or command line), what a checkpoint or exported
file records, the data set (CIFAR-10's own mean and std), and the model's default config.
"""
from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Tuple

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


PREPROCESSING_KEYS = ("image_size", "eval_resize", "interpolation", "mean", "std")


def resolve_preprocessing(default_cfg, *layers: Optional[Mapping], dataset: str = "imagenet") -> Preprocessing:
    """The preprocessing of a model (`default_cfg`, a registry.DefaultCfg) on `dataset`.

    `layers`: mappings of preprocessing values in precedence order (e.g. the command line, a checkpoint's record,
    a recipe); a missing or None value falls through to the next layer, then to the data set (CIFAR-10's mean and
    std), then to the model's default config. An image size given without an eval resize gets the model's crop
    fraction (eval_resize = image_size / crop fraction)."""
    layers = [dict(layer) for layer in layers if layer]

    def pick(key, fallback):
        for layer in layers:
            if layer.get(key) is not None:
                return layer[key]
        return fallback

    cifar = dataset == "cifar10"
    size = int(pick("image_size", default_cfg.input_size))
    resize = pick("eval_resize", None)
    if resize is None:
        resize = default_cfg.eval_resize if size == default_cfg.input_size else round(size / default_cfg.crop_fraction)
    return Preprocessing(
        image_size=size, eval_resize=int(resize),
        interpolation=str(pick("interpolation", default_cfg.interpolation)),
        mean=tuple(float(v) for v in pick("mean", CIFAR10_MEAN if cifar else default_cfg.mean)),
        std=tuple(float(v) for v in pick("std", CIFAR10_STD if cifar else default_cfg.std)))

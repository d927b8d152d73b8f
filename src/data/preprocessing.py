"""What an image goes through before the network: crop size, evaluation resize, interpolation, mean and std.

The values come, by precedence, from what the user set (recipe or command line), what a checkpoint or exported
file records, the data set (CIFAR-10's own mean and std), and the model's default config.
"""
import logging
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
    fraction (eval_resize = image_size / crop fraction); one given above the layer of the eval resize keeps that
    layer's ratio (see eval_resize_for). An eval resize below the crop is refused."""
    layers = [dict(layer) for layer in layers if layer]

    def pick(key, fallback):
        for layer in layers:
            if layer.get(key) is not None:
                return layer[key]
        return fallback

    cifar = dataset == "cifar10"
    size = int(pick("image_size", default_cfg.input_size))
    resize = eval_resize_for(size, layers, default_cfg)
    if resize < size:
        raise ValueError(f"eval_resize {resize} is below image_size {size}: evaluation resizes the short side to "
                         f"eval_resize and then centre-crops image_size, which must fit; set --eval_resize to "
                         f"{size} or more")
    return Preprocessing(
        image_size=size, eval_resize=int(resize),
        interpolation=str(pick("interpolation", default_cfg.interpolation)),
        mean=tuple(float(v) for v in pick("mean", CIFAR10_MEAN if cifar else default_cfg.mean)),
        std=tuple(float(v) for v in pick("std", CIFAR10_STD if cifar else default_cfg.std)))


def _first(layers, key: str) -> Optional[int]:
    return next((i for i, layer in enumerate(layers) if layer.get(key) is not None), None)


def eval_resize_for(size: int, layers, default_cfg) -> int:
    """The eval resize for crop `size`. An eval resize is set for the image size of its own layer (or of the layers
    below it, or the model's); when `size` comes from a layer above it (e.g. `--image_size 32` over a recipe's
    224 / 256), it is scaled to keep its ratio to that image size, and the log says so."""
    at = _first(layers, "eval_resize")
    if at is None:
        return default_cfg.eval_resize if size == default_cfg.input_size else round(size / default_cfg.crop_fraction)
    resize = int(layers[at]["eval_resize"])
    size_at = _first(layers, "image_size")
    if size_at is None or size_at >= at:
        return resize
    below = _first(layers[at:], "image_size")
    base = int(layers[at + below]["image_size"]) if below is not None else default_cfg.input_size
    if base == size:
        return resize
    scaled = round(size * resize / base)
    logging.getLogger("ghostzoo").info(  # runtime.LOG, without importing MindSpore (predict.py on ONNX files)
        f"eval_resize {scaled}: image_size {size} overrides {base}, for which eval_resize {resize} was set; the "
        f"resize keeps its ratio ({resize}/{base}); pass --eval_resize with --image_size to choose it")
    return scaled

"""Model registry: networks register themselves by name with their default config; `create_model` builds one.

A model's default config (timm's `pretrained_cfg` idea) is what the rest of the code reads instead of constants:
the input size, the eval resize (the short side before the centre crop), interpolation, mean and std, the class
count of its reference weights, the names of its classifier and stem, whether its layers fix the resolution, and
where reference weights come from. Each model file also registers its checkpoint filters: functions that map a
foreign checkpoint's parameter names (timm, the MindSpore model zoo) onto ours.
"""
import difflib
import fnmatch
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .features import features_model, warn_head_options

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "area")


@dataclass(frozen=True)
class DefaultCfg:
    """What a model expects of its input and where its reference weights come from."""
    input_size: int = 224                     # training crop and evaluation crop
    eval_resize: int = 256                    # evaluation: resize the short side to this, then centre-crop
    interpolation: str = "bilinear"
    mean: Tuple[float, float, float] = IMAGENET_MEAN   # of 0..1 RGB values
    std: Tuple[float, float, float] = IMAGENET_STD
    num_classes: int = 1000                   # class count of the reference weights
    classifier: str = "classifier"            # parameter prefix of the classification layer
    stem: str = "conv_stem"                   # parameter prefix of the first convolution
    fixed_resolution: bool = False            # layers sized for input_size (create_model passes image_size)
    weights: Tuple[str, ...] = ()             # where reference weights come from (for people, not for code)

    @property
    def crop_fraction(self) -> float:
        return self.input_size / self.eval_resize

    def to_dict(self) -> dict:
        return {"input_size": self.input_size, "eval_resize": self.eval_resize, "interpolation": self.interpolation,
                "mean": list(self.mean), "std": list(self.std), "num_classes": self.num_classes,
                "classifier": self.classifier, "stem": self.stem, "fixed_resolution": self.fixed_resolution,
                "weights": list(self.weights)}


# A checkpoint filter maps a source parameter name to ours (or None for a name it does not know); it also sees the
# whole source state, for names whose meaning depends on their neighbours.
Renamer = Callable[[str, Mapping], Optional[str]]


@dataclass(frozen=True)
class WeightSource:
    """How weights of a foreign source map onto a registered model, and the preprocessing they were trained with."""
    renamer: Renamer
    names: Tuple[str, ...] = ()               # the source's own names for the model (e.g. timm's mobilenetv1_100)
    preprocessing: Optional[Dict] = None      # DefaultCfg fields that differ for those weights
    model_kwargs: Optional[Dict] = None       # builder arguments the weights need (e.g. MindCV MobileNetV1: ReLU)


@dataclass
class _Entry:
    builder: Callable
    default_cfg: DefaultCfg
    sources: Dict[str, WeightSource] = field(default_factory=dict)


_MODELS: Dict[str, _Entry] = {}


def register_model(fn: Optional[Callable] = None, *, default_cfg: Optional[DefaultCfg] = None,
                   sources: Optional[Mapping[str, WeightSource]] = None):
    """Decorator that registers a model builder under its function name; duplicates are refused."""
    def register(builder: Callable) -> Callable:
        name = builder.__name__
        if name in _MODELS:
            raise ValueError(f"model '{name}' is already registered")
        _MODELS[name] = _Entry(builder, default_cfg or DefaultCfg(), dict(sources or {}))
        return builder
    return register(fn) if fn is not None else register


def list_models(pattern: str = "") -> List[str]:
    """Sorted names of every registered model (those matching a shell-style `pattern`, e.g. "ghostnet_*")."""
    return sorted(n for n in _MODELS if not pattern or fnmatch.fnmatch(n, pattern))


def is_model(name: str) -> bool:
    return name in _MODELS


def check_model_name(name: str) -> None:
    """Raise ValueError naming the closest known models unless `name` is one (the one unknown-model message)."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown model '{name}'{hint}; known: {', '.join(list_models())}")


def get_default_cfg(name: str) -> DefaultCfg:
    check_model_name(name)
    return _MODELS[name].default_cfg


def weight_sources(name: str) -> Dict[str, WeightSource]:
    """{source name: WeightSource} of the foreign checkpoints that convert into `name`."""
    check_model_name(name)
    return dict(_MODELS[name].sources)


def find_source_model(source: str, model: str) -> str:
    """Our name of `model`, given as ours or as the source's own name, when weights of `source` convert into it."""
    if model in _MODELS and source in _MODELS[model].sources:
        return model
    for name, entry in _MODELS.items():
        if source in entry.sources and model in entry.sources[source].names:
            return name
    convertible = sorted(n for n, e in _MODELS.items() if source in e.sources)
    if not convertible:
        raise ValueError(f"unknown source '{source}'; known: {', '.join(known_sources())}")
    raise ValueError(f"no conversion of model '{model}' from --source {source}; convertible: "
                     f"{', '.join(convertible)}")


def known_sources() -> List[str]:
    return sorted({s for entry in _MODELS.values() for s in entry.sources})


def create_model(name: str, num_classes: Optional[int] = None, image_size: Optional[int] = None,
                 pretrained=False, checkpoint_path: str = "", features_only: bool = False,
                 out_indices: Optional[Sequence[int]] = None, output_stride: int = 32, **kwargs):
    """Build the registered model `name` with `num_classes` outputs (default: its reference class count).

    `image_size` reaches only the networks whose layers are sized for one input resolution (default config
    `fixed_resolution`); the others run at any size. `pretrained` (True, a tag such as "ghostnet_100.in1k", or a
    path) or `checkpoint_path` loads weights (src/weights; default class count: the weights'). `features_only`: a
    backbone returning the feature maps of the levels `out_indices` (default all), with `feature_info`;
    `output_stride` 8 or 16 dilates the last stages (src/models/features.py).
    """
    if features_only:
        warn_head_options(num_classes=num_classes, drop_rate=kwargs.pop("drop_rate", None))
        num_classes = None
    if pretrained or checkpoint_path:  # the weights go into the whole network, then it becomes a backbone
        from ..weights import create_pretrained
        net = create_pretrained(name, pretrained, checkpoint_path, num_classes, image_size=image_size, **kwargs)
        return features_model(net, features_only, out_indices, output_stride)
    check_model_name(name)
    entry = _MODELS[name]
    if num_classes is None:
        num_classes = entry.default_cfg.num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if entry.default_cfg.fixed_resolution:
        kwargs["image_size"] = image_size or entry.default_cfg.input_size
    net = entry.builder(num_classes=num_classes, **kwargs)
    net.default_cfg = replace(entry.default_cfg, input_size=kwargs.get("image_size", entry.default_cfg.input_size))
    net.model_name = name
    return features_model(net, features_only, out_indices, output_stride)

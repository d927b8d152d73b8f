"""Model registry: networks register themselves by name; `create_model` builds one by name."""
from typing import Callable, Dict, List, Optional

_MODELS: Dict[str, Callable] = {}
_FIXED_RESOLUTION = set()


def register_model(fn: Optional[Callable] = None, *, fixed_resolution: bool = False):
    """Decorator that registers a model builder under its function name; duplicates are refused.

    `fixed_resolution=True` marks networks whose layers depend on the input size (e.g. a gather kernel as large as
    the feature map): `create_model` then passes them `image_size`.
    """
    def register(builder: Callable) -> Callable:
        name = builder.__name__
        if name in _MODELS:
            raise ValueError(f"model '{name}' is already registered")
        _MODELS[name] = builder
        if fixed_resolution:
            _FIXED_RESOLUTION.add(name)
        return builder
    return register(fn) if fn is not None else register


def list_models() -> List[str]:
    """Sorted names of every registered model."""
    return sorted(_MODELS)


def is_model(name: str) -> bool:
    return name in _MODELS


def check_model_name(name: str) -> None:
    """Raise ValueError naming the known models unless `name` is one."""
    if name not in _MODELS:
        raise ValueError(f"unknown model '{name}'; known: {', '.join(list_models())}")


def create_model(name: str, num_classes: int = 1000, image_size: Optional[int] = None, **kwargs):
    """Build the registered model `name` with `num_classes` outputs.

    `image_size` reaches only the networks built for one input resolution; the others run at any size.
    """
    check_model_name(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if image_size is not None and name in _FIXED_RESOLUTION:
        kwargs["image_size"] = image_size
    return _MODELS[name](num_classes=num_classes, **kwargs)

"""Model registry: networks register themselves by name; `create_model` builds one by name."""
from typing import Callable, Dict, List

_MODELS: Dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Decorator that registers a model builder under its function name; duplicates are refused."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model '{name}' is already registered")
    _MODELS[name] = fn
    return fn


def list_models() -> List[str]:
    """Sorted names of every registered model."""
    return sorted(_MODELS)


def is_model(name: str) -> bool:
    return name in _MODELS


def create_model(name: str, num_classes: int = 1000, **kwargs):
    """Build the registered model `name` with `num_classes` outputs."""
    if name not in _MODELS:
        raise ValueError(f"unknown model '{name}'; known: {', '.join(list_models())}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return _MODELS[name](num_classes=num_classes, **kwargs)

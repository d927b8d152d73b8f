"""Networks of the zoo. Importing this package registers every model."""
from .registry import create_model, list_models, register_model, is_model
from . import ghostnet  # noqa: F401  (registers the GhostNet family)
from .utils import count_params

__all__ = ["create_model", "list_models", "register_model", "is_model", "count_params"]

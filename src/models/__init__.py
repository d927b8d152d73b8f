"""Networks of the zoo. Importing this package registers every model."""
from .registry import check_model_name, create_model, list_models, register_model, is_model
from . import genet, ghostnet, ghostnet600, ghostnet_d, mobilenet_v1  # noqa: F401  (each registers its networks)
from .utils import count_macs, count_params, freeze_batch_norm

__all__ = ["check_model_name", "create_model", "list_models", "register_model", "is_model", "count_params", "count_macs", "freeze_batch_norm"]

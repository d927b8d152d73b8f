"""Networks of the zoo. Importing this package registers every model."""
from .registry import (DefaultCfg, WeightSource, check_model_name, create_model, find_source_model,
                       get_default_cfg, is_model, known_sources, list_models, register_model, weight_sources)
from . import genet, ghostnet, ghostnet_d, mobilenet_v1  # noqa: F401  (each registers its networks)
from .convert import convert_state_dict
from .fuse import fold_batchnorm, prepare_for_inference
from .utils import count_macs, count_params, freeze_batch_norm

__all__ = ["DefaultCfg", "WeightSource", "check_model_name", "convert_state_dict", "count_macs", "count_params",
           "create_model", "find_source_model", "fold_batchnorm", "freeze_batch_norm", "get_default_cfg", "is_model",
           "known_sources", "list_models", "prepare_for_inference", "register_model", "weight_sources"]

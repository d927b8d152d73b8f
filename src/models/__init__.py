"""Networks of the zoo. Importing this package registers every model."""
from .registry import (DefaultCfg, WeightSource, check_model_name, create_model, find_source_model,
                       get_default_cfg, is_model, known_sources, list_models, register_model, weight_sources)
# each registers its networks
from . import genet, ghostnet, ghostnet_d, ghostnetv2, ghostnetv3, mobilenet_v1, repghost  # noqa: F401
from .convert import convert_state_dict
from .features import FeatureInfo, FeatureNet, freeze_stages, set_output_stride
from .fuse import deploy_form, fold_batchnorm
from .reparam import can_reparameterize, reparameterize
from .utils import count_macs, count_params, freeze_batch_norm

__all__ = ["DefaultCfg", "FeatureInfo", "FeatureNet", "WeightSource", "can_reparameterize", "check_model_name",
           "convert_state_dict", "count_macs", "count_params", "create_model", "deploy_form", "find_source_model",
           "fold_batchnorm", "freeze_batch_norm", "freeze_stages", "get_default_cfg", "is_model", "known_sources",
           "list_models", "register_model", "reparameterize", "set_output_stride", "weight_sources"]

"""Optimizers, mixed precision, and the learning-rate scaling policy, from explicit values.

Optimizers:
  momentum   SGD with momentum (MindSpore's Momentum; nesterov optional)
  sgd        MindSpore's SGD (momentum only with nesterov)
  rmsproptf  TensorFlow's RMSProp, as timm's `rmsproptf` (RMSpropTF) and the MobileNet / EfficientNet / GhostNetV2
             recipes use it. Per parameter, with gradient g (plus weight_decay * w: L2, not decoupled), learning
             rate lr, decay rho, momentum beta:
                 s <- rho * s + (1 - rho) * g^2            (s starts at 1, not 0)
                 m <- beta * m + lr * g / sqrt(s + eps)    (eps inside the square root; lr inside the momentum)
                 w <- w - m
             This is MindSpore's RMSProp (ApplyRMSProp) exactly; timm's defaults for the recipes: rho 0.9,
             beta 0.9, eps 1e-3 (`--opt-eps .001`; PyTorch's RMSprop instead puts eps outside the root and starts
             s at 0, which makes the first steps far larger).
"""
from typing import List, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn

OPTIMIZERS = ("momentum", "sgd", "rmsproptf")
AMP_BY_DEVICE = {"CPU": "O0", "GPU": "O2", "Ascend": "O3"}
# Names of the optimizers' per-parameter state (Momentum / SGD: moments; RMSProp: mean_square, moment, and mean_grad
# when centered), which a training checkpoint holds and a resumed run restores.
OPTIMIZER_STATE_PREFIXES = ("moments.", "mean_square.", "moment.", "mean_grad.")


def param_groups(net: nn.Cell, weight_decay: float, filter_bias_and_bn: bool = True) -> List:
    """Optimizer parameter groups of the trainable parameters: weight decay on weights, none on BN parameters and
    biases when `filter_bias_and_bn`."""
    params = net.trainable_params()
    if not filter_bias_and_bn or weight_decay == 0:
        return [{"params": params, "weight_decay": weight_decay}]
    no_decay = [p for p in params if p.name.endswith(("gamma", "beta", "bias")) or len(p.shape) <= 1]
    ids = {id(p) for p in no_decay}
    decay = [p for p in params if id(p) not in ids]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0},
            {"order_params": params}]


def create_optimizer(net: nn.Cell, lr: np.ndarray, *, name: str = "momentum", momentum: float = 0.9,
                     weight_decay: float = 0.0, nesterov: bool = False, filter_bias_and_bn: bool = True,
                     loss_scale: float = 1.0, rmsprop_decay: float = 0.9, rmsprop_eps: float = 1e-3
                     ) -> nn.Optimizer:
    """An optimizer over the trainable parameters of `net` with the per-step learning rates `lr`
    (`rmsprop_decay` and `rmsprop_eps` are rmsproptf's; see the module docstring)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer '{name}'; expected one of {', '.join(OPTIMIZERS)}")
    groups = param_groups(net, weight_decay, filter_bias_and_bn)
    lr = ms.Tensor(np.asarray(lr, np.float32))
    if name == "momentum":
        return nn.Momentum(groups, lr, momentum, loss_scale=loss_scale, use_nesterov=nesterov)
    if name == "rmsproptf":
        if not 0 < rmsprop_decay < 1 or rmsprop_eps <= 0:
            raise ValueError(f"rmsproptf needs 0 < rmsprop_decay < 1 and rmsprop_eps > 0, got {rmsprop_decay} and "
                             f"{rmsprop_eps}")
        return nn.RMSProp(groups, lr, decay=float(rmsprop_decay), momentum=float(momentum),
                          epsilon=float(rmsprop_eps), loss_scale=loss_scale)
    return nn.SGD(groups, lr, loss_scale=loss_scale, nesterov=nesterov, momentum=momentum if nesterov else 0.0)


def resolve_amp(level: str, device_target: str, loss_scale: float) -> Tuple[str, object, float]:
    """(amp level, loss-scale manager, optimizer loss scale) for `level` ("auto": by device) on `device_target`."""
    level = AMP_BY_DEVICE[device_target] if level == "auto" else level
    if level == "O0":
        return level, None, 1.0
    # drop_overflow_update=False: the only loss-scale manager MindSpore supports on CPU, and the model zoo's
    # choice on Ascend; the optimizer divides the gradients by the same scale.
    return level, ms.FixedLossScaleManager(loss_scale, drop_overflow_update=False), loss_scale


def linear_lr_scale(batch_size: int, group_size: int, reference_batch: int, scaling: str, lr_max: float
                    ) -> Tuple[float, str]:
    """(the factor on the recipe's lr values, the log line saying why): `scaling` "linear" multiplies them by the
    global batch over `reference_batch`; "none" keeps them and says what linear scaling would give."""
    global_batch = batch_size * group_size
    scale = global_batch / reference_batch if reference_batch else 1.0
    what = (f"global batch {global_batch} ({batch_size} per rank x {group_size} ranks)" if group_size > 1
            else f"global batch {global_batch} (one process)")
    if scaling == "linear":
        return scale, (f"{what}; lr_scaling linear: lr values x {global_batch}/{reference_batch} = {scale:g} "
                       f"(lr_max {lr_max:g} -> {lr_max * scale:g})")
    if reference_batch and reference_batch != global_batch:
        return 1.0, (f"{what}; lr_max {lr_max:g} was set for a global batch of {reference_batch}: kept as is "
                     f"(--lr_scaling linear would use {lr_max * scale:g})")
    return 1.0, f"{what}; lr_max {lr_max:g} as configured"

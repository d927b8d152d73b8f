"""Structural re-parameterisation: parallel training-time branches folded into one convolution for deployment.

RepVGG's idea (Ding et al., arXiv 2101.03697) as GhostNetV3 (arXiv 2404.11202) and RepGhost (arXiv 2211.06088) use
it. In eval mode every branch is linear: a conv followed by BatchNorm is the conv with kernel W * gamma / sqrt(var +
eps) and bias beta - mean * gamma / sqrt(var + eps); a 1x1 branch is a k x k kernel that is zero off centre; a
BatchNorm on its own (an identity branch) is a depthwise conv whose kernel is 1 at the centre. Parallel branches on
the same input sum, so their kernels and biases sum. The fused network equals the multi-branch one only with BN in
eval mode (moving statistics), which is how it is deployed.

A module that can be folded has `switch_to_deploy()` (timm's name); `reparameterize(net)` calls it on every such
module of `net` (timm's `reparameterize_model`), in place. The arithmetic runs in float64 on the host.
"""
import time
from typing import Iterable, Optional, Tuple

import numpy as np
import mindspore as ms
from mindspore import nn

Branch = Tuple[np.ndarray, np.ndarray]  # (kernel (out, in / groups, kh, kw), bias (out,)), float64


def bn_scale_shift(bn: nn.BatchNorm2d) -> Tuple[np.ndarray, np.ndarray]:
    """(gamma / sqrt(var + eps), beta - mean * gamma / sqrt(var + eps)) of an eval-mode BatchNorm."""
    std = np.sqrt(bn.moving_variance.asnumpy().astype(np.float64) + bn.eps)
    scale = bn.gamma.asnumpy().astype(np.float64) / std
    return scale, bn.beta.asnumpy().astype(np.float64) - bn.moving_mean.asnumpy().astype(np.float64) * scale


def fuse_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> Branch:
    """Kernel and bias of a bias-free conv followed by BatchNorm."""
    if conv.has_bias:
        raise ValueError("fuse_conv_bn expects a conv without bias (the BN supplies it)")
    scale, shift = bn_scale_shift(bn)
    return conv.weight.asnumpy().astype(np.float64) * scale[:, None, None, None], shift


def fuse_identity_bn(bn: nn.BatchNorm2d, kernel_size: int, groups: int) -> Branch:
    """Kernel and bias of a BatchNorm applied to the branch input itself: a conv of `groups` groups (channels ==
    BN channels) whose kernel picks each channel's own input at the centre."""
    channels = bn.gamma.shape[0]
    per_group = channels // groups
    kernel = np.zeros((channels, per_group, kernel_size, kernel_size), np.float64)
    kernel[np.arange(channels), np.arange(channels) % per_group, kernel_size // 2, kernel_size // 2] = 1.0
    scale, shift = bn_scale_shift(bn)
    return kernel * scale[:, None, None, None], shift


def pad_kernel(kernel: np.ndarray, kernel_size: int) -> np.ndarray:
    """A smaller odd kernel centred in a `kernel_size` x `kernel_size` one (1x1 -> 3x3: zeros around)."""
    pad_h, pad_w = (kernel_size - kernel.shape[2]) // 2, (kernel_size - kernel.shape[3]) // 2
    return np.pad(kernel, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))


def sum_branches(branches: Iterable[Branch], kernel_size: int) -> Branch:
    """The one kernel and bias equal to parallel branches summed (smaller kernels padded to `kernel_size`)."""
    branches = list(branches)
    kernel = sum(pad_kernel(k, kernel_size) for k, _ in branches)
    bias = sum(b for _, b in branches)
    return kernel, bias


def fused_conv(template: nn.Conv2d, kernel: np.ndarray, bias: np.ndarray) -> nn.Conv2d:
    """A conv with bias, with the geometry of `template` (a branch's conv), holding `kernel` and `bias`."""
    out_channels, _, kh, kw = kernel.shape
    if (kh, kw) != tuple(template.kernel_size):
        raise ValueError(f"fused kernel {kh}x{kw} does not match the template conv's {template.kernel_size}")
    conv = type(template)(template.in_channels, out_channels, (kh, kw), stride=template.stride,
                          pad_mode=template.pad_mode, padding=template.padding, dilation=template.dilation,
                          group=template.group, has_bias=True)
    conv.weight.set_data(ms.Tensor(kernel.astype(np.float32)))
    conv.bias.set_data(ms.Tensor(bias.astype(np.float32)))
    return conv


def can_reparameterize(net: nn.Cell) -> bool:
    """Whether `net` has training-time branches left to fold."""
    return any(_foldable(cell) for _, cell in net.cells_and_names())


def _foldable(cell: nn.Cell) -> bool:
    return hasattr(cell, "switch_to_deploy") and not getattr(cell, "deployed", True)


def reparameterize(net: nn.Cell) -> int:
    """Fold every re-parameterisable module of `net` into its deployed form, in place; return how many changed.

    A network without such modules (GhostNet V1 / V2, MobileNet, ...) is left as it is (returns 0). Call it on
    an eval-mode network whose weights and BN statistics are final; training it afterwards trains the deployed form.
    """
    modules = [cell for _, cell in net.cells_and_names() if _foldable(cell)]
    for cell in modules:
        cell.switch_to_deploy()
    if modules:
        _rename_parameters(net)
        _invalidate_compiled_graphs(net)
    return len(modules)


def _rename_parameters(net: nn.Cell) -> None:
    """The convs made by the fusion were attached after construction, so their parameters carry bare names
    (`weight`, `bias`); give every parameter its path in the network, as a freshly built network has."""
    for path, param in net.parameters_and_names():
        if param.name != path:
            param.name = path


def _invalidate_compiled_graphs(net: nn.Cell, now: Optional[int] = None) -> None:
    """MindSpore keys a cell's compiled graph by the cell's id and creation time, and would keep running the
    multi-branch graph of a network compiled before the fusion; a new creation time makes it compile the new one."""
    now = now or time.time_ns()
    for _, cell in net.cells_and_names():
        object.__setattr__(cell, "_create_time", now)

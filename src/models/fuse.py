"""BatchNorm folding for inference: every BatchNorm that directly follows a convolution becomes part of it.

In eval mode a BatchNorm is the per-channel affine map y = gamma * (x - mean) / sqrt(var + eps) + beta, so the
convolution before it can absorb it: weight * scale and a bias beta - mean * scale (plus its own bias * scale),
with scale = gamma / sqrt(var + eps). MindSpore's CPU graph mode does not do this itself: it runs every BatchNorm
as its own kernel, a full pass over the feature map (docs/performance.md).

Which BatchNorm follows which convolution: in a SequentialCell, a BatchNorm2d right after a Conv2d; in other cells,
the (conv, bn) attribute pairs the cell lists in `conv_bn_pairs` (its construct computes bn(conv(x)) for each).
The folded network computes the same function in eval mode only; its parameter names differ (the BatchNorms are
gone, the convolutions gain biases), so it is for evaluation, prediction and export, never for training or for
saving checkpoints. The hard sigmoid of a squeeze-excite gate folds into the conv before it the same way
(`fold_hard_sigmoid`).
"""
from typing import Dict, Iterator, Tuple

import numpy as np
from mindspore import nn


def _pairs(cell: nn.Cell) -> Iterator[Tuple[nn.Conv2d, nn.BatchNorm2d, callable]]:
    """(conv, bn, replace_bn) for every conv + BN pair that `cell` itself holds."""
    if isinstance(cell, nn.SequentialCell):
        for i in range(len(cell) - 1):
            conv, bn = cell[i], cell[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                yield conv, bn, lambda new, i=i + 1: cell.__setitem__(i, new)
    for conv_name, bn_name in getattr(cell, "conv_bn_pairs", ()):
        conv, bn = getattr(cell, conv_name, None), getattr(cell, bn_name, None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            yield conv, bn, lambda new, name=bn_name: setattr(cell, name, new)


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Give `conv` the weights and bias of conv followed by the eval-mode `bn` (float64 arithmetic)."""
    import mindspore as ms
    gamma, beta = bn.gamma.asnumpy().astype(np.float64), bn.beta.asnumpy().astype(np.float64)
    mean, var = bn.moving_mean.asnumpy().astype(np.float64), bn.moving_variance.asnumpy().astype(np.float64)
    scale = gamma / np.sqrt(var + bn.eps)
    weight = conv.weight.asnumpy().astype(np.float64) * scale.reshape(-1, 1, 1, 1)
    bias = conv.bias.asnumpy().astype(np.float64) if conv.has_bias else np.zeros_like(mean)
    bias = (bias - mean) * scale + beta
    dtype = conv.weight.dtype
    conv.weight.set_data(ms.Tensor(weight.astype(np.float32), dtype))
    if conv.has_bias:
        conv.bias.set_data(ms.Tensor(bias.astype(np.float32), dtype))
    else:
        name = conv.weight.name.rsplit(".", 1)[0] + ".bias" if "." in conv.weight.name else "bias"
        conv.bias = ms.Parameter(ms.Tensor(bias.astype(np.float32), dtype), name=name)
        conv.has_bias = True


def fold_batchnorm(net: nn.Cell) -> int:
    """Fold every BatchNorm that follows a convolution into it (see the module docstring); put `net` in eval mode
    and return how many were folded. Call it before the network's first run in graph mode: a compiled graph keeps
    the structure it was compiled with."""
    folded = 0
    for _, cell in list(net.cells_and_names()):
        for conv, bn, replace in list(_pairs(cell)):
            fold_conv_bn(conv, bn)
            replace(nn.Identity())
            folded += 1
    net.set_train(False)
    return folded


def fold_hard_sigmoid(net: nn.Cell) -> int:
    """Move the affine part of every squeeze-excite's hard sigmoid gate into the 1x1 conv before it, in place:
    relu6(s + 3) / 6 = clamp(s / 6 + 0.5, 0, 1), so the conv takes weight / 6 and bias / 6 + 0.5 (float64
    arithmetic) and the gate becomes `UnitClamp`. The same function up to float32 rounding, one op instead of
    three; in an ONNX file a Clip right after the Conv, which onnxruntime fuses into it, where the Add and Div
    cost repghostnet_100 about 2.5 ms of 70 per batch of 32 (docs/performance.md). Returns how many were folded."""
    import mindspore as ms
    from .layers import HardSigmoid, SqueezeExcite, UnitClamp
    folded = 0
    for _, cell in list(net.cells_and_names()):
        if not isinstance(cell, SqueezeExcite) or not isinstance(cell.gate, HardSigmoid):
            continue
        conv = cell.conv_expand
        dtype = conv.weight.dtype
        weight = conv.weight.asnumpy().astype(np.float64) / 6
        bias = conv.bias.asnumpy().astype(np.float64) / 6 + 0.5
        conv.weight.set_data(ms.Tensor(weight.astype(np.float32), dtype))
        conv.bias.set_data(ms.Tensor(bias.astype(np.float32), dtype))
        cell.gate = UnitClamp()
        folded += 1
    return folded


def deploy_form(net: nn.Cell, reparameterize: bool = True, fold_bn: bool = True) -> Dict[str, int]:
    """Turn a network with its final weights into the form eval, predict, export and the benchmark run, in place:
    re-parameterisable branches folded, then every BatchNorm that follows a convolution folded and every
    squeeze-excite's hard sigmoid folded into its conv (both only with `fold_bn`), then the ReLU after each
    depthwise conv handed to the conv where our CPU kernel runs it, and each Ghost module's cheap conv and concat
    made one kernel of ours where it runs (`kernels.fusion`); eval mode.
    Returns how many modules each step changed. Do not train or save checkpoints from it afterwards."""
    from ..kernels.fusion import fuse_activations, fuse_ghost_joins
    from .reparam import reparameterize as fold_branches
    done = {"reparameterized": fold_branches(net) if reparameterize else 0,
            "bn_folded": fold_batchnorm(net) if fold_bn else 0,
            "gates_folded": fold_hard_sigmoid(net) if fold_bn else 0}
    done["act_fused"] = fuse_activations(net)  # ReLUs after depthwise convs into our kernel, where it runs
    done["joins_fused"] = fuse_ghost_joins(net)  # Ghost modules' conv + concat into one kernel, where it runs
    net.set_train(False)
    return done

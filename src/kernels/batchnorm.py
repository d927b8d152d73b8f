"""Training-mode BatchNorm2d on CPU through our C++ kernels (batchnorm.cc) as MindSpore custom ops, where they win.

`BatchNorm2d` is an `nn.BatchNorm2d` (same arguments, parameters `gamma`, `beta`, `moving_mean`, `moving_variance`,
same checkpoints; `layers.batch_norm` builds every BatchNorm of the networks as one). Where it normalises with the
batch statistics (training, or `use_batch_statistics=True`) on a float32 NCHW input of a selected shape, it runs our
kernels (the statistics, one pass over the map, then the normalising op, one pass, whose bprop is our backward
kernel: two sums + the input gradient, gradients for gamma and beta too; `act="relu"` / `"relu6"` takes a ReLU /
ReLU6 that follows into both) and assigns the moving statistics as MindSpore's CPU BatchNorm updates them: moving =
momentum * moving + (1 - momentum) * batch (MindSpore's `momentum=0.9` convention), the moving variance taking the
unbiased batch variance (measured in graph mode and PyNative, pinned in tests/kernels/test_batchnorm.py). Everything
else is MindSpore's operator: moving statistics (eval, `use_batch_statistics=False`), float16, another device, no
library, GHOSTZOO_KERNELS=0, `standard_ops` exports, and a batch whose N*H*W is below 2 (no unbiased variance).

Memory: the normalising op is recomputed in the backward pass wherever a gradient needs its output (`apply_op`), so
a training graph keeps each BatchNorm's input and two C-vectors, not its output nor a ReLU's after it
(docs/performance.md, Memory).
"""
from typing import Dict

import mindspore as ms
from mindspore import nn, ops

from .build import HERE
from .depthwise import kernel_mode, library, thread_count

SOURCE = f"{HERE}/batchnorm.cc"
_OPS: Dict[str, ops.Custom] = {}

# Where ours runs in auto mode (GHOSTZOO_KERNELS=1): `python -m src.kernels.bench --batchnorm --table`
# (docs/kernels.md) timed ours faster than MindSpore's BatchNorm + BatchNormGrad on all 16 BN shapes of the
# networks it tried (batch 32; maps 112 down to 1x1; forward 1.2-4.8x, forward + backward 1.2-4.5x), so the rule
# is every shape the kernel supports: N*H*W per channel at least 2 (the unbiased variance needs two values).
MIN_COUNT = 2


def kernel_wins(shape) -> bool:
    """Whether ours runs on a training BatchNorm input of `shape` (N, C, H, W) in auto mode."""
    return shape[0] * shape[2] * shape[3] >= MIN_COUNT


def stats_op(lib: str) -> ops.Custom:
    """The statistics op (x, moving_mean, moving_variance, config) -> (batch mean, batch inverse std, new moving mean,
    new moving variance); config is float32 (eps, 1 - momentum, threads). Its gradient is zero: `apply_op`'s bprop
    differentiates through the statistics. One op shared by every BatchNorm (its output shapes follow from the
    inputs')."""
    if (lib, "stats") in _OPS:
        return _OPS[(lib, "stats")]
    zeros_like = ops.ZerosLike()

    def bprop(x, moving_mean, moving_var, config, out, dout):
        return zeros_like(x), zeros_like(moving_mean), zeros_like(moving_var), zeros_like(config)

    op = ops.Custom(f"{lib}:BatchNormStats", out_shape=lambda x, m, v, cfg: [m, m, m, m],
                    out_dtype=lambda x, m, v, cfg: [m, m, m, m], func_type="aot", bprop=bprop)
    _OPS[(lib, "stats")] = op
    return op


# The activation after a BatchNorm that its kernels take in: the ops' name suffix for each kind.
ACT_NAMES = {"": "", "relu": "ReLU", "relu6": "ReLU6"}


def apply_op(lib: str, act: str = "") -> ops.Custom:
    """The normalising op (x, gamma, beta, batch mean, batch inverse std, config) -> y (`act` "relu": max(0, y),
    "relu6": min(max(0, y), 6)), whose bprop is the whole BatchNorm's backward to x, gamma and beta, the statistics'
    dependence on x included (zeros for the statistics themselves), the activation's mask recomputed from x. It is
    marked for recomputation: where a backward node needs y (the next conv's weight gradient), the training graph
    recomputes it from x and the statistics, one pass over the map, instead of keeping it, so a conv + BN (+ act)
    keeps only the conv's output."""
    key = (lib, "apply", act)
    if key in _OPS:
        return _OPS[key]
    zeros_like = ops.ZerosLike()
    if act:
        grad = ops.Custom(f"{lib}:BatchNorm{ACT_NAMES[act]}Grad", out_shape=lambda dy, x, g, b, m, s, cfg: [x, g, g],
                          out_dtype=lambda dy, x, g, b, m, s, cfg: [x, g, g], func_type="aot")

        def backward(dout, x, gamma, beta, mean, invstd, config):
            return grad(dout, x, gamma, beta, mean, invstd, config)
    else:
        grad = ops.Custom(f"{lib}:BatchNormTrainGrad", out_shape=lambda dy, x, g, m, s, cfg: [x, g, g],
                          out_dtype=lambda dy, x, g, m, s, cfg: [x, g, g], func_type="aot")

        def backward(dout, x, gamma, beta, mean, invstd, config):
            return grad(dout, x, gamma, mean, invstd, config)

    def bprop(x, gamma, beta, mean, invstd, config, out, dout):
        dx, dgamma, dbeta = backward(dout, x, gamma, beta, mean, invstd, config)
        return dx, dgamma, dbeta, zeros_like(mean), zeros_like(invstd), zeros_like(config)

    op = ops.Custom(f"{lib}:BatchNormApply{ACT_NAMES[act]}", out_shape=lambda x, g, b, m, s, cfg: x,
                    out_dtype=lambda x, g, b, m, s, cfg: x, func_type="aot", bprop=bprop)
    _OPS[key] = op.recompute()
    return op


def gate_after_norm_op(lib: str) -> ops.Custom:
    """y * gate for a gate (N, C, 1, 1) computed from y, the output of a training BatchNorm of z, as one custom op
    with inputs (y, gate, z, gamma, beta, batch mean, batch inverse std, config). Its bprop: the same product on
    dout for y, and for the gate the per-channel sum of dout * y with y recomputed from z (GateAfterNormGrad), so
    the graph keeps z (which the BatchNorm's backward keeps anyway) and not y; zeros for z and the statistics,
    which the product only carries to its gradient."""
    if (lib, "gate") in _OPS:
        return _OPS[(lib, "gate")]
    zeros_like = ops.ZerosLike()
    scale = ops.Custom(f"{lib}:GateAfterNorm", out_shape=lambda y, g, cfg: y, out_dtype=lambda y, g, cfg: y,
                       func_type="aot")
    grad = ops.Custom(f"{lib}:GateAfterNormGrad", out_shape=lambda dy, z, g, b, m, s, cfg: list(dy[:2]) + [1, 1],
                      out_dtype=lambda dy, z, g, b, m, s, cfg: dy, func_type="aot")

    def bprop(y, gate, z, gamma, beta, mean, invstd, config, out, dout):
        return (scale(dout, gate, config), grad(dout, z, gamma, beta, mean, invstd, config), zeros_like(z),
                zeros_like(gamma), zeros_like(beta), zeros_like(mean), zeros_like(invstd), zeros_like(config))

    op = ops.Custom(f"{lib}:GateAfterNorm", out_shape=lambda y, g, z, ga, b, m, s, cfg: y,
                    out_dtype=lambda y, g, z, ga, b, m, s, cfg: y, func_type="aot", bprop=bprop)
    _OPS[(lib, "gate")] = op
    return op


class BatchNorm2d(nn.BatchNorm2d):
    """nn.BatchNorm2d (same arguments, parameters and checkpoints) whose batch-statistics path runs our CPU kernels
    on float32 NCHW inputs (module docstring); `use_kernel` False (`standard_ops`) keeps MindSpore's operator."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.select_all = kernel_mode() == "all"
        lib = library(SOURCE, "training BatchNorm") if self.format == "NCHW" else None
        self.use_kernel = lib is not None
        if self.use_kernel:
            self.stats_op, self.gate_op = stats_op(lib), gate_after_norm_op(lib)
            self.apply_op, self.apply_relu_op = apply_op(lib), apply_op(lib, "relu")
            self.apply_relu6_op = apply_op(lib, "relu6")
            # self.momentum is MindSpore's stored 1 - momentum: the weight of the batch statistic
            self.config = ms.Tensor([self.eps, self.momentum, thread_count()], ms.float32)
        self.relu, self.relu6 = ops.ReLU(), ops.ReLU6()

    def kernel_runs(self, x) -> bool:
        """Whether `construct` runs our kernel on `x` (a constant when a graph is compiled)."""
        batch_stats = self.training if self.use_batch_statistics is None else self.use_batch_statistics
        if not (self.use_kernel and batch_stats and x.dtype == ms.float32):
            return False
        return self.select_all and x.shape[0] * x.shape[2] * x.shape[3] >= MIN_COUNT or kernel_wins(x.shape)

    def train_outputs(self, x, act: str = ""):
        """(y, batch mean, batch inverse std) of our kernels on `x` (`act` "relu": y = max(0, BN(x)), "relu6":
        min(max(0, BN(x)), 6)), with the moving statistics assigned; only where `kernel_runs(x)`."""
        self._check_input_dim(self.shape(x), self.cls_name)
        stats = self.stats_op(x, self.moving_mean, self.moving_variance, self.config)
        # no ops.depend tying y to the assigns: graph mode's auto-monad keeps and orders them anyway, and the tie
        # made a small 8-layer training graph peak 15 MB higher.
        ops.assign(self.moving_mean, stats[2])
        ops.assign(self.moving_variance, stats[3])
        apply = self.apply_op
        if act == "relu":
            apply = self.apply_relu_op
        elif act == "relu6":
            apply = self.apply_relu6_op
        return apply(x, self.gamma, self.beta, stats[0], stats[1], self.config), stats[0], stats[1]

    def gate_product(self, x, outputs, gate):
        """y * gate, y = outputs[0] (`train_outputs(x)`), the gate (N, C, 1, 1) computed from y: one custom op
        whose gradient keeps x, which this BatchNorm's backward keeps anyway, instead of y
        (`gate_after_norm_op`); only where `kernel_runs(x)`."""
        return self.gate_op(outputs[0], gate, x, self.gamma, self.beta, outputs[1], outputs[2], self.config)

    def construct(self, x, act: str = ""):
        """BN(x); `act` "relu" / "relu6": that activation of BN(x), which our kernels compute in one op each way
        (`apply_op`), so that the training graph keeps neither the normalised map nor the activation's output
        (layers.norm_act passes it, through this cell's call so that its hooks see the input). Where our kernel
        does not run, MindSpore's BatchNorm and then its ReLU / ReLU6 (norm_act passes "relu6" only where ours
        runs, keeping the network's own ReLU6 cell elsewhere)."""
        if self.kernel_runs(x):
            return self.train_outputs(x, act)[0]
        y = super().construct(x)
        if act == "relu":
            return self.relu(y)
        if act == "relu6":
            return self.relu6(y)
        return y

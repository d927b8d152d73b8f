"""Training-mode BatchNorm2d on CPU through our C++ kernels (batchnorm.cc) as MindSpore custom ops, where they win.

`BatchNorm2d` is an `nn.BatchNorm2d` (same arguments, parameters `gamma`, `beta`, `moving_mean`, `moving_variance`,
same checkpoints; `layers.batch_norm` builds every BatchNorm of the networks as one). Where it normalises with the
batch statistics (training, or `use_batch_statistics=True`) on a float32 NCHW input of a selected shape, it runs our
forward kernel (statistics + normalise, two passes over the map; its bprop is our backward kernel: two sums + the
input gradient, gradients for gamma and beta too) and assigns the moving statistics as MindSpore's CPU BatchNorm
updates them: moving = momentum * moving + (1 - momentum) * batch (MindSpore's `momentum=0.9` convention), the
moving variance taking the unbiased batch variance (measured in graph mode and PyNative, pinned in
tests/kernels/test_batchnorm.py). Everything else is MindSpore's operator: moving statistics (eval,
`use_batch_statistics=False`), float16, another device, no library, GHOSTZOO_KERNELS=0, `standard_ops` exports, and a
batch whose N*H*W is below 2 (no unbiased variance).
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


def train_op(lib: str) -> ops.Custom:
    """The forward custom op (x, gamma, beta, moving_mean, moving_variance, config) -> (y, batch mean, batch
    inverse std, new moving mean, new moving variance); config is float32 (eps, 1 - momentum, threads). Its bprop
    runs the backward kernel to x, gamma and beta (zeros for the moving statistics and the config). One op shared
    by every BatchNorm: its output shapes follow from the input shapes alone."""
    if lib in _OPS:
        return _OPS[lib]
    grad = ops.Custom(f"{lib}:BatchNormTrainGrad", out_shape=lambda dy, x, g, m, s, cfg: [x, g, g],
                      out_dtype=lambda dy, x, g, m, s, cfg: [x, g, g], func_type="aot")
    zeros_like = ops.ZerosLike()

    def bprop(x, gamma, beta, moving_mean, moving_var, config, out, dout):
        dx, dgamma, dbeta = grad(dout[0], x, gamma, out[1], out[2], config)
        return dx, dgamma, dbeta, zeros_like(moving_mean), zeros_like(moving_var), zeros_like(config)

    op = ops.Custom(f"{lib}:BatchNormTrain", out_shape=lambda x, g, b, m, v, cfg: [x, g, g, g, g],
                    out_dtype=lambda x, g, b, m, v, cfg: [x, g, g, g, g], func_type="aot", bprop=bprop)
    _OPS[lib] = op
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
            self.train_op = train_op(lib)
            self.gate_op = gate_after_norm_op(lib)
            # self.momentum is MindSpore's stored 1 - momentum: the weight of the batch statistic
            self.config = ms.Tensor([self.eps, self.momentum, thread_count()], ms.float32)

    def kernel_runs(self, x) -> bool:
        """Whether `construct` runs our kernel on `x` (a constant when a graph is compiled)."""
        batch_stats = self.training if self.use_batch_statistics is None else self.use_batch_statistics
        if not (self.use_kernel and batch_stats and x.dtype == ms.float32):
            return False
        return self.select_all and x.shape[0] * x.shape[2] * x.shape[3] >= MIN_COUNT or kernel_wins(x.shape)

    def train_outputs(self, x):
        """Our forward kernel's outputs on `x` (y, batch mean, batch inverse std, ...), with the moving statistics
        assigned; only where `kernel_runs(x)`."""
        self._check_input_dim(self.shape(x), self.cls_name)
        out = self.train_op(x, self.gamma, self.beta, self.moving_mean, self.moving_variance, self.config)
        # no ops.depend tying y to the assigns: graph mode's auto-monad keeps and orders them anyway, and the tie
        # made a small 8-layer training graph peak 15 MB higher.
        ops.assign(self.moving_mean, out[3])
        ops.assign(self.moving_variance, out[4])
        return out

    def gate_product(self, x, outputs, gate):
        """y * gate, y = outputs[0] (`train_outputs(x)`), the gate (N, C, 1, 1) computed from y: one custom op
        whose gradient keeps x, which this BatchNorm's backward keeps anyway, instead of y
        (`gate_after_norm_op`); only where `kernel_runs(x)`."""
        return self.gate_op(outputs[0], gate, x, self.gamma, self.beta, outputs[1], outputs[2], self.config)

    def construct(self, x):
        if self.kernel_runs(x):
            # indexing (not unpacking) leaves no unused getitem of outputs 1 and 2, which auto-monad warned about
            # once per BatchNorm
            return self.train_outputs(x)[0]
        return super().construct(x)

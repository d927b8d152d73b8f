"""A convolution's bias and the ReLU / ReLU6 after it as one pass of our CPU kernel (depthwise.cc `bias_act`) in
inference graphs, where MindSpore runs BiasAdd and the activation as two passes over the map.

`Conv2d` is an nn.Conv2d (same arguments, parameters and checkpoints; `layers.conv2d` builds every convolution that
is not depthwise as one): in an inference graph, once BatchNorm folding has given it a bias, it runs MindSpore's
convolution without the bias and then our kernel for bias + activation (`fuse_activation`, from
`kernels.fusion`). In training, without our library, with GHOSTZOO_KERNELS=0 and in exports (`standard_ops`) it
is MindSpore's Conv2D, BiasAdd and the activation cell, as before.
"""
from typing import Dict

import mindspore as ms
from mindspore import nn, ops

from .depthwise import ACT_CELLS, FUSED_ACTS, library, thread_count

_OPS: Dict[tuple, ops.Custom] = {}
# Whether our kernel also replaces MindSpore's BiasAdd where no activation follows, and the smallest map (H * W)
# it runs on: python -m src.kernels.bench --fusion had it faster on every map of the networks at 224x224 and
# slower on a 1x1 map (docs/kernels.md).
BIAS_ALONE = True
MIN_MAP = 4


def bias_op(lib: str, act: str) -> ops.Custom:
    """act(x + bias) as one custom op, inputs (x, bias, threads); its bprop masks dout where the activation is
    flat (dx), and sums it per channel (dbias). One op per activation, shared by every conv."""
    key = (lib, act)
    if key in _OPS:
        return _OPS[key]
    relu6 = act == "relu6"
    sum_channels, zeros_like = ops.ReduceSum(), ops.ZerosLike()

    def bprop(x, bias, threads, out, dout):
        if act:
            keep = out > 0
            if relu6:
                keep = ops.logical_and(keep, out < 6)
            dout = dout * keep.astype(dout.dtype)
        return dout, sum_channels(dout, (0, 2, 3)), zeros_like(threads)

    op = ops.Custom(f"{lib}:Bias{FUSED_ACTS[act]}", out_shape=lambda x, b, t: x, out_dtype=lambda x, b, t: x,
                    func_type="aot", bprop=bprop)
    op.add_prim_attr("bias_act", act or "none")
    _OPS[key] = op
    return op


class Conv2d(nn.Conv2d):
    """nn.Conv2d whose bias (and the activation `fuse_activation` took over) runs as one pass of our kernel in
    inference graphs on CPU (module docstring); `use_kernel` False keeps MindSpore's operators."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.post_act, self.act_kind = None, ""
        lib = library() if self.data_format == "NCHW" else None
        self.use_kernel = lib is not None
        if self.use_kernel:
            self.lib = lib
            self.bias_kernel = bias_op(lib, "")
            self.threads = ms.Tensor([thread_count()], ms.int32)

    def fuse_activation(self, act: nn.Cell) -> bool:
        """Take over `act` (a ReLU or ReLU6 cell applied to this conv's output and nowhere else): as in
        `DepthwiseConv2d.fuse_activation`, the caller then drops its own `act`. False, changing nothing, where our
        kernel cannot run or `act` is another activation."""
        kind = ACT_CELLS.get(type(act))
        if not self.use_kernel or kind is None or self.post_act is not None:
            return False
        self.post_act, self.act_kind = act, kind
        self.bias_kernel = bias_op(self.lib, kind)
        return True

    def construct(self, x):
        if self.use_kernel and self.has_bias and not self.training and x.dtype == ms.float32 and (
                BIAS_ALONE or self.post_act is not None):
            out = self.conv2d(x, self.weight)
            if out.shape[2] * out.shape[3] >= MIN_MAP:
                return self.bias_kernel(out, self.bias, self.threads)
            out = self.bias_add(out, self.bias)
        else:
            out = super().construct(x)
        if self.post_act is not None:
            out = self.post_act(out)
        return out


def gate_op(lib: str) -> ops.Custom:
    """x * gate (gate (N, C, 1, 1)) as one custom op, inputs (x, gate, threads); its bprop is our kernels too:
    `ChannelScale(dout, gate)` for x and `ChannelDot(dout, x)` (the per-channel sum of dout * x) for the gate,
    where MindSpore tiles the gate to the map for the product and its gradient."""
    if (lib, "gate") in _OPS:
        return _OPS[(lib, "gate")]
    zeros_like = ops.ZerosLike()
    dot = ops.Custom(f"{lib}:ChannelDot", out_shape=lambda dy, x, t: list(x[:2]) + [1, 1],
                     out_dtype=lambda dy, x, t: x, func_type="aot")

    def bprop(x, gate, threads, out, dout):
        return scale(dout, gate, threads), dot(dout, x, threads), zeros_like(threads)

    scale = ops.Custom(f"{lib}:ChannelScale", out_shape=lambda x, g, t: x, out_dtype=lambda x, g, t: x,
                       func_type="aot", bprop=bprop)
    _OPS[(lib, "gate")] = scale
    return scale


class GateProduct(nn.Cell):
    """x * gate for a per-channel gate (N, C, 1, 1), the squeeze-excite product: one pass of our kernel on CPU,
    in training (with our kernels for its gradients) and inference graphs; with the kernels off or float16 the
    gate tiled to the map and multiplied, as `layers.expand_gate` does (MindSpore's broadcast Mul kept several
    times the memory in training). Exports (`standard_ops` sets `exporting`) write a broadcast Mul: onnxruntime's
    Tile wrote the gate out to the whole map."""

    def __init__(self):
        super().__init__()
        lib = library()
        self.use_kernel = lib is not None
        self.exporting = ""
        if self.use_kernel:
            self.scale = gate_op(lib)
            self.threads = ms.Tensor([thread_count()], ms.int32)

    def construct(self, x, gate):
        if self.exporting:
            return x * gate
        if self.use_kernel and x.dtype == ms.float32 and gate.dtype == ms.float32:
            return self.scale(x, gate, self.threads)
        return x * ops.tile(gate, (1, 1) + x.shape[2:])


def mean_op(lib: str) -> ops.Custom:
    """The mean of each plane of x (N, C, H, W) as (N, C, 1, 1), one custom op (`ChannelMean`), inputs (x,
    threads); its bprop spreads dout / (H * W) over each plane (`ChannelSpread`)."""
    if (lib, "mean") in _OPS:
        return _OPS[(lib, "mean")]
    zeros_like = ops.ZerosLike()
    spread = ops.Custom(f"{lib}:ChannelSpread", out_shape=lambda g, t, x: x, out_dtype=lambda g, t, x: g,
                        func_type="aot")

    def bprop(x, threads, out, dout):
        return spread(dout, threads, x), zeros_like(threads)

    mean = ops.Custom(f"{lib}:ChannelMean", out_shape=lambda x, t: list(x[:2]) + [1, 1],
                      out_dtype=lambda x, t: x, func_type="aot", bprop=bprop)
    _OPS[(lib, "mean")] = mean
    return mean


class GlobalMean(nn.Cell):
    """The mean over H and W (global average pooling), keeping the dims (N, C, 1, 1) or not (N, C): one pass of our
    kernel on CPU in training and inference graphs, where MindSpore's ReduceMean is several times slower than a
    pass over the map (docs/kernels.md); ReduceMean with the kernels off, on float16 and in exports
    (`standard_ops`), which is what the ONNX file holds."""

    def __init__(self, keep_dims: bool = True):
        super().__init__()
        self.keep_dims = keep_dims
        self.reduce_mean = ops.ReduceMean(keep_dims=keep_dims)
        lib = library()
        self.use_kernel = lib is not None
        if self.use_kernel:
            self.mean = mean_op(lib)
            self.threads = ms.Tensor([thread_count()], ms.int32)

    def construct(self, x):
        if self.use_kernel and x.dtype == ms.float32:
            y = self.mean(x, self.threads)
            return y if self.keep_dims else y.reshape(x.shape[0], x.shape[1])
        return self.reduce_mean(x, (2, 3))


@ms.constexpr
def nearest_indices(source: int, target: int):
    """Source rows of nearest upsampling from `source` to `target` rows, as torch's `F.interpolate(mode="nearest")`
    picks them: floor(i * source / target) (7 from 3: 0,0,0,1,1,2,2). An int32 Tensor. `constexpr` runs it in
    Python when the graph compiles: parsed as graph code, the comprehension unrolled into target scalar ops per call,
    which took about 60% of ghostnetv2_100's compiling memory (docs/performance.md, Memory)."""
    return ms.Tensor([(i * source) // target for i in range(target)], ms.int32)


def upsample_gate_op(lib: str) -> ops.Custom:
    """x * gate upsampled by nearest neighbour (`UpsampleScale`), inputs (x (N, C, H, W), gate (N, C, h, w), rows
    (H), cols (W), threads): rows and cols are the gate's source row and column of each map row and column. Its
    bprop: the same kernel on dout for x, `UpsampleScaleGrad` (dout * x summed over each gate cell's positions)
    for the gate."""
    if (lib, "upsample") in _OPS:
        return _OPS[(lib, "upsample")]
    zeros_like = ops.ZerosLike()
    grad_gate = ops.Custom(f"{lib}:UpsampleScaleGrad", out_shape=lambda dy, x, r, c, t, g: g,
                           out_dtype=lambda dy, x, r, c, t, g: x, func_type="aot")

    def bprop(x, gate, rows, cols, threads, out, dout):
        return (scale(dout, gate, rows, cols, threads), grad_gate(dout, x, rows, cols, threads, gate),
                zeros_like(rows), zeros_like(cols), zeros_like(threads))

    scale = ops.Custom(f"{lib}:UpsampleScale", out_shape=lambda x, g, r, c, t: x,
                       out_dtype=lambda x, g, r, c, t: x, func_type="aot", bprop=bprop)
    _OPS[(lib, "upsample")] = scale
    return scale

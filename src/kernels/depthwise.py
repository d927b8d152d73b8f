"""Depthwise convolution on CPU through our C++ kernels (depthwise.cc) as MindSpore custom ops, where they win.

`DepthwiseConv2d` is an `nn.Conv2d` (same arguments, same parameters `weight` (C, 1, kh, kw) and `bias`, same
checkpoints) that runs our forward and gradient kernels for the input shapes listed in `selection.py` (measured by
`python -m src.kernels.bench`) and MindSpore's own convolution for everything else. The kernels are off, with one
log line saying why, on a device other than CPU, without AVX2 or g++, with GHOSTZOO_KERNELS=0, and inside
`standard_ops(net)` (exports: ONNX and MINDIR files keep the standard operator). In an inference graph a conv with a
bias (BatchNorm folded) runs one fused kernel for conv + bias (+ the ReLU / ReLU6 `fuse_activation` took over).
"""
import contextlib
import logging
import os
from typing import Dict, Optional, Tuple

import mindspore as ms
from mindspore import nn, ops

from .build import HERE, try_build
from .selection import kernel_wins

LOG = logging.getLogger("ghostzoo")
SOURCE = os.path.join(HERE, "depthwise.cc")
ENV_SWITCH = "GHOSTZOO_KERNELS"  # 0: never our kernels; "all": ours for every supported shape (tests, benchmark)
_STATE: Dict[str, object] = {}


def kernel_mode() -> str:
    """'off', 'auto' (ours where the selection table says it wins) or 'all' (ours wherever supported)."""
    value = os.environ.get(ENV_SWITCH, "1").strip().lower()
    if value in ("0", "off", "false", "no"):
        return "off"
    if value in ("all", "always"):
        return "all"
    if value in ("1", "on", "true", "yes", "auto", ""):
        return "auto"
    raise ValueError(f"{ENV_SWITCH}={value!r}; expected 0, 1 or all")


def library(source: str = SOURCE, what: str = "depthwise convolutions") -> Optional[str]:
    """The path of the compiled kernels of `source`, or None where they are off or cannot run here; the first call
    for each answer logs which operator `what` uses and why (one line per library)."""
    if kernel_mode() == "off":
        _log_once(f"off {what}", "%s: MindSpore's standard operator (%s=0)", what, ENV_SWITCH)
        return None
    key = "library" if source == SOURCE else f"library {source}"
    if key not in _STATE:
        target = ms.get_context("device_target")
        path, reason = (None, f"the device is {target}") if target != "CPU" else try_build(source)
        _STATE[key] = path
        if path:
            _log_once(f"on {what}", "%s: our CPU kernels (%s) where they win, MindSpore's elsewhere", what, path)
        else:
            _log_once(f"none {what}", "%s: MindSpore's standard operator (%s)", what, reason)
    return _STATE[key]


def _log_once(key: str, *args) -> None:
    if f"logged_{key}" not in _STATE:
        _STATE[f"logged_{key}"] = ""
        LOG.info(*args)


def _out_hw(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def set_threads(num_threads: int) -> None:
    """The OpenMP threads of the kernels in the convs built from now on (0: every core this process may use, as
    MindSpore's CPU backend does unless `ms.device_context.cpu.op_tuning.threads_num` says otherwise)."""
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0, got {num_threads}")
    _STATE["threads"] = num_threads


def thread_count() -> int:
    """The OpenMP threads of our kernels: `set_threads`' count, else every core this process may use."""
    return _STATE.get("threads") or len(os.sched_getaffinity(0))


def geometry_tensor(stride, padding, dilation, threads: int = 0) -> ms.Tensor:
    """The int32 tensor the kernels read their geometry from: stride, padding, dilation (each (h, w)), threads."""
    threads = threads or thread_count()
    return ms.Tensor([stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], threads], ms.int32)


def depthwise_op(lib: str, stride, padding, dilation, kernel_size) -> ops.Custom:
    """The forward custom op for one geometry ((h, w) pairs); its bprop runs the two gradient kernels, custom ops
    as well (the geometry tensor gets a zero gradient)."""
    kh, kw = kernel_size

    def fwd_shape(x, _w, _geo):
        return [x[0], x[1], _out_hw(x[2], kh, stride[0], padding[0], dilation[0]),
                _out_hw(x[3], kw, stride[1], padding[1], dilation[1])]

    grad_input = ops.Custom(f"{lib}:DepthwiseGradInput", out_shape=lambda dy, w, geo, x: x,
                            out_dtype=lambda dy, w, geo, x: dy, func_type="aot")
    grad_weight = ops.Custom(f"{lib}:DepthwiseGradWeight", out_shape=lambda dy, x, geo: [dy[1], 1, kh, kw],
                             out_dtype=lambda dy, x, geo: dy, func_type="aot")
    zeros_like = ops.ZerosLike()

    def bprop(x, w, geo, out, dout):
        return grad_input(dout, w, geo, x), grad_weight(dout, x, geo), zeros_like(geo)

    forward = ops.Custom(f"{lib}:DepthwiseForward", out_shape=fwd_shape, out_dtype=lambda x, w, geo: x,
                         func_type="aot", bprop=bprop)
    # MindSpore caches an op's inferred shape by its attributes and input shapes: ops of different geometries
    # must not look alike, or one's output shape is taken for another's.
    tag = f"k{kh}x{kw}_s{stride[0]}x{stride[1]}_p{padding[0]}x{padding[1]}_d{dilation[0]}x{dilation[1]}"
    for op in (forward, grad_input, grad_weight):
        op.add_prim_attr("depthwise_geometry", tag)
    forward.fused = {act: _fused_op(lib, fwd_shape, tag, act, bprop) for act in FUSED_ACTS}
    forward.joined = {act: _joined_op(lib, tag, act, bprop) for act in FUSED_ACTS}
    return forward


# The activations the fused forward applies after the bias: the entry point's suffix, and the cells it replaces.
FUSED_ACTS = {"": "", "relu": "Relu", "relu6": "Relu6"}
# the activation cells our kernels can apply themselves, by the kernel's name for them (models.layers registers
# its own ReLU6, whose gradient differs but whose forward is the same)
ACT_CELLS = {nn.ReLU: "relu", nn.ReLU6: "relu6"}


def register_activation(cell_class: type, kind: str) -> None:
    """Let the fusion take cells of `cell_class`, computing the function of FUSED_ACTS `kind`."""
    if kind not in ACT_CELLS.values():
        raise ValueError(f"unknown fused activation '{kind}'; expected one of {sorted(set(ACT_CELLS.values()))}")
    ACT_CELLS[cell_class] = kind


def _fused_op(lib: str, fwd_shape, tag: str, act: str, conv_bprop) -> ops.Custom:
    """act(conv(x) + bias) in one pass (DepthwiseForwardBias[Relu|Relu6]), inputs (x, weight, geometry, bias): the
    inference graph's depthwise conv with its folded BatchNorm. Its bprop masks dout where the activation is flat
    and runs the unfused gradients, so a graph that differentiates it (saliency on a deployed net) still works."""
    relu6 = act == "relu6"
    sum_channels = ops.ReduceSum()

    def bprop(x, w, geo, bias, out, dout):
        if act:
            keep = out > 0
            if relu6:
                keep = ops.logical_and(keep, out < 6)
            dout = dout * keep.astype(dout.dtype)
        dx, dw, dgeo = conv_bprop(x, w, geo, out, dout)
        return dx, dw, dgeo, sum_channels(dout, (0, 2, 3))

    op = ops.Custom(f"{lib}:DepthwiseForwardBias{FUSED_ACTS[act]}", out_dtype=lambda x, w, geo, b: x,
                    out_shape=lambda x, w, geo, b: fwd_shape(x, w, geo), func_type="aot", bprop=bprop)
    op.add_prim_attr("depthwise_geometry", f"{tag}_bias_{act or 'none'}")
    return op


def _joined_op(lib: str, tag: str, act: str, conv_bprop) -> ops.Custom:
    """concat((x, act(conv(x) + bias)), channels) in one pass (DepthwiseJoinBias[Relu|Relu6]), inputs (x, weight,
    geometry, bias), for a conv that keeps the map's size: an inference graph's Ghost module join, where the concat
    is otherwise a pass of its own over both halves. Its bprop splits dout into the copy's and the conv's halves."""
    relu6 = act == "relu6"
    sum_channels = ops.ReduceSum()
    split = ops.Split(axis=1, output_num=2)

    def bprop(x, w, geo, bias, out, dout):
        dcopy, dconv = split(dout)
        if act:
            conv_out = split(out)[1]
            keep = conv_out > 0
            if relu6:
                keep = ops.logical_and(keep, conv_out < 6)
            dconv = dconv * keep.astype(dconv.dtype)
        dx, dw, dgeo = conv_bprop(x, w, geo, out, dconv)
        return dx + dcopy, dw, dgeo, sum_channels(dconv, (0, 2, 3))

    def out_shape(x, w, geo, b):
        return [x[0], 2 * x[1], x[2], x[3]]

    op = ops.Custom(f"{lib}:DepthwiseJoinBias{FUSED_ACTS[act]}", out_shape=out_shape,
                    out_dtype=lambda x, w, geo, b: x, func_type="aot", bprop=bprop)
    op.add_prim_attr("depthwise_geometry", f"{tag}_join_{act or 'none'}")
    return op


def _symmetric_padding(conv: nn.Conv2d) -> Optional[Tuple[int, int]]:
    """(pad_h, pad_w) of `conv` when it pads each side of a dimension alike, else None."""
    kh, kw = conv.kernel_size
    dh, dw = conv.dilation[-2:]
    if conv.pad_mode == "valid":
        return 0, 0
    if conv.pad_mode == "same":
        span_h, span_w = dh * (kh - 1), dw * (kw - 1)
        if tuple(conv.stride[-2:]) != (1, 1) or span_h % 2 or span_w % 2:
            return None  # MindSpore then pads the bottom / right one more
        return span_h // 2, span_w // 2
    pad = conv.padding
    if isinstance(pad, int):
        return pad, pad
    top, bottom, left, right = pad
    return (top, left) if top == bottom and left == right else None


class DepthwiseConv2d(nn.Conv2d):
    """nn.Conv2d (same arguments, parameters and checkpoints) that runs our CPU kernels for a depthwise conv
    (group == in == out channels, NCHW, float32) on the input shapes where they win (`selection.kernel_wins`);
    MindSpore's convolution otherwise. `use_kernel` False (`standard_ops`) keeps the standard operator."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.select_all = kernel_mode() == "all"
        self.post_act, self.act_kind = None, ""  # an activation taken over by fuse_activation
        self.refresh_kernel()

    def refresh_kernel(self) -> None:
        """Choose the kernel for the conv's current stride, padding and dilation (call it after changing them,
        as output_stride does)."""
        self.use_kernel = self.keeps_size = False
        self.kernel_op = self.fused_op = self.join_op = None
        padding = _symmetric_padding(self)
        depthwise = self.group == self.in_channels == self.out_channels and self.data_format == "NCHW"
        lib = library() if depthwise and padding is not None else None
        if lib:
            stride, dilation = tuple(self.stride[-2:]), tuple(self.dilation[-2:])
            try:
                self.kernel_op = shared_op(lib, stride, padding, dilation, tuple(self.kernel_size))
            except TypeError as err:  # MS_CUSTOM_AOT_WHITE_LIST names another folder
                _log_once("refused", "depthwise convolutions: MindSpore's standard operator (%s)", err)
                return
            self.fused_op = self.kernel_op.fused[self.act_kind]
            self.join_op = self.kernel_op.joined[self.act_kind]
            self.keeps_size = stride == (1, 1) and all(
                2 * pad == d * (k - 1) for pad, d, k in zip(padding, dilation, self.kernel_size))
            self.geometry = geometry_tensor(stride, padding, dilation)
            self.kernel_key = tuple(self.kernel_size) + stride + dilation
            self.use_kernel = True

    def fuse_activation(self, act: nn.Cell) -> bool:
        """Take over `act` (a ReLU or ReLU6 cell applied to this conv's output and nowhere else) for the inference
        graph: where our kernel runs with a bias, one pass computes act(conv + bias); elsewhere (training,
        MindSpore's conv, exports) `act` runs after the conv as before. The caller then drops its own `act`.
        False, changing nothing, where our kernel cannot run or `act` is another activation."""
        kind = ACT_CELLS.get(type(act))
        if not self.use_kernel or kind is None or self.post_act is not None:
            return False
        self.post_act, self.act_kind = act, kind
        self.fused_op = self.kernel_op.fused[kind]
        self.join_op = self.kernel_op.joined[kind]
        return True

    def runs_kernel(self, x) -> bool:
        """Whether this conv runs our kernel on `x` (graph code: decided when the graph compiles)."""
        return self.use_kernel and x.dtype == ms.float32 and (
            self.select_all or kernel_wins(self.kernel_key, x.shape, self.training))

    def joins(self, x) -> bool:
        """Whether `join` runs one kernel of ours on `x`: an inference graph's conv with a bias (BatchNorm folded)
        that keeps the map's size, where our kernel runs."""
        return self.keeps_size and self.has_bias and not self.training and self.runs_kernel(x)

    def join(self, x):
        """concat((x, self(x)), channels) in one pass, where `joins(x)` (a Ghost module's output)."""
        return self.join_op(x, self.weight, self.geometry, self.bias)

    def construct(self, x):
        if self.runs_kernel(x):
            if self.has_bias and not self.training:
                return self.fused_op(x, self.weight, self.geometry, self.bias)  # bias (+ act) in the same pass
            out = self.kernel_op(x, self.weight, self.geometry)
            if self.has_bias:
                out = self.bias_add(out, self.bias)
        else:
            out = super().construct(x)
        if self.post_act is not None:
            out = self.post_act(out)
        return out


@contextlib.contextmanager
def standard_ops(net: nn.Cell, dynamic_batch: bool = False):
    """Within the block, `net`'s cells compile with MindSpore's standard operators (export: the file must not
    depend on our library), and cells with an `exporting` attribute take the form they export in, whether our
    kernels could run or not, so the file is the same either way: `exporting` is "fixed" or "dynamic" (a file
    with a dynamic batch dimension); restored to "" afterwards. Affects graphs compiled inside the block."""
    cells = [cell for _, cell in net.cells_and_names() if getattr(cell, "use_kernel", False)]  # pointwise too
    exporting = [cell for _, cell in net.cells_and_names() if hasattr(cell, "exporting")]
    for cell in cells:
        cell.use_kernel = False
    for cell in exporting:
        cell.exporting = "dynamic" if dynamic_batch else "fixed"
    try:
        yield net
    finally:
        for cell in cells:
            cell.use_kernel = True
        for cell in exporting:
            cell.exporting = ""


def shared_op(lib: str, stride, padding, dilation, kernel_size) -> ops.Custom:
    """One forward custom op per geometry, shared by every conv of that geometry (creating the three custom ops
    of each conv anew made building a network seconds slower)."""
    key = (lib, stride, padding, dilation, kernel_size)
    cache = _STATE.setdefault("ops", {})
    if key not in cache:
        cache[key] = depthwise_op(lib, stride, padding, dilation, kernel_size)
    return cache[key]

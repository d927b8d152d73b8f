"""The Ghost family's own blocks (GhostNet, arXiv 1911.11907; GhostNetV2, arXiv 2211.12905): the Ghost module
(a primary convolution plus cheap depthwise "ghost" features, concatenated), GhostNetV2's DFC attention gate, and
the Ghost bottleneck. GhostNet, GhostNetV2 and GhostNetV3 build from them; generic layers are in layers.py."""
import math
from typing import Callable, Optional

import mindspore as ms
from mindspore import nn, ops

from ..kernels.depthwise import DepthwiseConv2d, library, thread_count
from ..kernels.pointwise import nearest_indices, upsample_gate_op
from .layers import ConvBnAct, SqueezeExcite, batch_norm, conv2d, conv_bn
from .reparam import fuse_conv_bn, fused_conv, sum_branches


class DFCAttention(nn.SequentialCell):
    """GhostNetV2's decoupled fully connected attention (arXiv 2211.12905), the gate of a Ghost module.

    On the input average-pooled 2x2 (stride 2): a 1x1 conv to the module's output width, a 1x5 and a 5x1 depthwise
    conv (each followed by BN, no activation), a sigmoid, and nearest upsampling back to the input's size. The six
    layers are the children 0..5, as in timm's `short_conv`. A side shorter than 2 (the last stage at inputs under
    64x64, where timm's avg_pool2d fails) is not pooled.

    The 1x5 / 5x1 convs are `DepthwiseConv2d`s (our CPU kernels on the pooled maps where they win, MindSpore's
    operator elsewhere and in exports). Written for MindSpore's ONNX exporter: the 1x5 / 5x1 convs pad "same"
    (the exporter writes an explicit per-side padding in MindSpore's top, bottom, left, right order where ONNX
    expects begins then ends, which mixes up (0, 0, 2, 2)); the upsampling is a Gather of constant row and column
    indices (the exporter's Resize fixes the batch size, wrong under a dynamic batch, and ResizeNearestNeighborV2
    has no converter).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__([
            conv2d(in_channels, out_channels, 1), batch_norm(out_channels),
            DepthwiseConv2d(out_channels, out_channels, (1, 5), pad_mode="same", group=out_channels, has_bias=False),
            batch_norm(out_channels),
            DepthwiseConv2d(out_channels, out_channels, (5, 1), pad_mode="same", group=out_channels, has_bias=False),
            batch_norm(out_channels),
        ])
        self.sigmoid = ops.Sigmoid()
        self.gather = ops.Gather()
        lib = library()
        self.use_kernel = lib is not None  # False in exports (standard_ops)
        self.exporting = ""  # "fixed" / "dynamic" batch, set by standard_ops: the upsampling the file holds
        if self.use_kernel:
            self.product = upsample_gate_op(lib)
            self.threads = ms.Tensor([thread_count()], ms.int32)

    def construct(self, x, out):
        """`out` (the module's output, x's height and width) times the attention gate of the module's input `x`.
        On CPU with our kernels the gate stays at the pooled size and one kernel (`UpsampleScale`) upsamples it
        as it multiplies, so neither pass writes nor keeps a full-size gate for the gradient."""
        height, width = x.shape[2], x.shape[3]
        pool_h, pool_w = min(2, height), min(2, width)
        y = x
        if pool_h * pool_w > 1:
            y = ops.AvgPool(kernel_size=(pool_h, pool_w), strides=(pool_h, pool_w))(x)
        for cell in self.cell_list:
            y = cell(y)
        y = self.sigmoid(y)
        if self.use_kernel and out.dtype == ms.float32:
            return self.product(out, y, nearest_indices(y.shape[2], height), nearest_indices(y.shape[3], width),
                                self.threads)
        if self.exporting == "fixed" and (y.shape[2] != height or y.shape[3] != width):
            # ONNX Resize, which onnxruntime runs about 5x faster than the two Gathers; MindSpore's exporter writes
            # the batch into it and fails on a dynamic batch, where the Gathers stay
            return out * ops.ResizeNearestNeighbor((height, width))(y)
        if y.shape[2] != height:
            y = self.gather(y, nearest_indices(y.shape[2], height), 2)
        if y.shape[3] != width:
            y = self.gather(y, nearest_indices(y.shape[3], width), 3)
        return out * y


class GhostJoin:
    """The end of a Ghost module (mixed into GhostModule and GhostNetV3's module): the intrinsic maps `x1` and the
    ghost maps `x2` concatenated to `out_channels` maps, times the DFC attention gate of the module's input `x` when
    there is one. The module sets `concat`, `trim`, `cheap_channels`, `attention` (and `short_conv`).

    `fused_join` (set by `kernels.fusion.fuse_ghost_joins` in an inference network whose cheap operation is one
    depthwise conv with bias and activation taken over): `cheap_operation[0].join` writes x1 and its ghost maps into
    the output in one kernel of ours, where it runs, instead of the conv and then the concat."""

    fused_join = False

    def joins(self, x1) -> bool:
        """Whether `joined(x, x1)` is the module's output (graph code: decided when the graph compiles)."""
        return self.fused_join and self.cheap_operation[0].joins(x1)

    def joined(self, x, x1):
        return self.gate(x, self.cheap_operation[0].join(x1))

    def join(self, x, x1, x2):
        if self.trim:
            x2 = x2[:, :self.cheap_channels]
        return self.gate(x, self.concat((x1, x2)))

    def gate(self, x, out):
        if self.attention:
            out = self.short_conv(x, out)
        return out


class GhostModule(GhostJoin, nn.Cell):
    """Ghost module (arXiv 1911.11907): a primary conv makes ceil(out / ratio) intrinsic maps, a cheap depthwise
    conv derives the rest, and the concatenation has exactly `out_channels` maps.

    The official code concatenates and then slices to `out_channels`. Every width the zoo builds divides evenly
    (ratio 2, even widths), where that slice keeps everything; MindSpore's CPU graph still runs it as a
    StridedSlice over the whole map, a large share of GhostNet's inference time (docs/performance.md).
    So the slice is taken only when the widths need it, and then on the cheap maps before the concatenation
    (fewer channels to copy); the result is the same.

    attention: GhostNetV2's module (timm's GhostModuleV2): the output multiplied by a DFC attention gate computed
    from the module's input (`short_conv`).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, ratio: int = 2,
                 dw_size: int = 3, stride: int = 1, act: Optional[str] = "relu", attention: bool = False):
        super().__init__()
        self.out_channels = out_channels
        init_channels = math.ceil(out_channels / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = conv_bn(in_channels, init_channels, kernel_size, stride, act=act)
        self.cheap_operation = conv_bn(init_channels, new_channels, dw_size, 1, groups=init_channels, act=act)
        self.concat = ops.Concat(axis=1)
        self.attention = attention
        if attention:
            if stride != 1:
                raise ValueError(f"DFC attention gates a stride-1 Ghost module, got stride {stride}")
            self.short_conv = DFCAttention(in_channels, out_channels)
        self.cheap_channels = out_channels - init_channels  # ghost maps kept
        self.trim = self.cheap_channels < new_channels
        if self.primary_conv[1].use_kernel:
            # Our BatchNorm recomputes both halves in the backward pass (kernels/batchnorm.py: apply_op); the
            # concatenation is recomputed from them too, so training keeps only the two convs' outputs per module.
            self.concat.recompute()

    def construct(self, x):
        x1 = self.primary_conv(x)
        if self.joins(x1):
            return self.joined(x, x1)
        return self.join(x, x1, self.cheap_operation(x1))


class GhostBottleneck(nn.Cell):
    """Ghost bottleneck: ghost1 (act) -> [depthwise stride conv + BN] -> [SE] -> ghost2 (linear) + shortcut.

    `se_channels` is the SE's reduced width (0: no SE); the caller computes it with its own rounding rule.
    Child names follow the official code (`ghost1`, `conv_dw`, `bn_dw`, `se`, `ghost2`, `shortcut`).

    The variants of the GhostNet family are arguments: `module` builds the two Ghost modules, called as
    module(in, out, act=...) (GhostNetV3's and RepGhost's modules are re-parameterisable); `attention` gives ghost1
    DFC attention (GhostNetV2 / V3); `dw_branches` > 0 makes the stride-2 depthwise conv GhostNetV3's
    re-parameterisable form: that many parallel k x k conv + BN branches (`dw_rpr_conv`) plus a 1x1 conv + BN
    scale branch (`dw_rpr_scale`), which `switch_to_deploy` folds into one `conv_dw` with bias (no `bn_dw`).
    """

    conv_bn_pairs = (("conv_dw", "bn_dw"),)

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, se_channels: int = 0, act: str = "relu", module: Callable[..., nn.Cell] = None,
                 attention: bool = False, dw_branches: int = 0):
        super().__init__()
        module = module or GhostModule
        self.stride = stride
        self.kernel_size = kernel_size
        self.ghost1 = (module(in_channels, mid_channels, act=act, attention=True) if attention
                       else module(in_channels, mid_channels, act=act))
        self.rep_dw = stride > 1 and dw_branches > 0
        self.dw_bn = stride > 1 and not self.rep_dw
        self.deployed = not self.rep_dw  # nothing to fold otherwise
        if self.rep_dw:
            self.dw_rpr_conv = nn.CellList([
                ConvBnAct(mid_channels, mid_channels, kernel_size, stride, groups=mid_channels, act=None)
                for _ in range(dw_branches)])
            self.dw_rpr_scale = ConvBnAct(mid_channels, mid_channels, 1, stride, groups=mid_channels, act=None)
        elif stride > 1:
            self.conv_dw = conv2d(mid_channels, mid_channels, kernel_size, stride, groups=mid_channels)
            self.bn_dw = batch_norm(mid_channels)
        self.has_se = se_channels > 0
        if self.has_se:
            self.se = SqueezeExcite(mid_channels, se_channels)
        self.ghost2 = module(mid_channels, out_channels, act=None)
        self.identity_shortcut = in_channels == out_channels and stride == 1
        if not self.identity_shortcut:
            self.shortcut = nn.SequentialCell([
                conv2d(in_channels, in_channels, kernel_size, stride, groups=in_channels),
                batch_norm(in_channels),
                conv2d(in_channels, out_channels, 1),
                batch_norm(out_channels),
            ])

    def construct(self, x):
        residual = x
        x = self.ghost1(x)
        if self.rep_dw:
            y = self.dw_rpr_scale(x)
            for branch in self.dw_rpr_conv:
                y = y + branch(x)
            x = y
        elif self.dw_bn:
            x = self.bn_dw(self.conv_dw(x))
        elif self.stride > 1:
            x = self.conv_dw(x)  # deployed: the branches folded into one conv with bias
        if self.has_se:
            x = self.se(x)
        x = self.ghost2(x)
        if self.identity_shortcut:
            return x + residual
        return x + self.shortcut(residual)

    def switch_to_deploy(self) -> None:
        """Fold the depthwise branches into `conv_dw` (timm's GhostBottleneckV3.switch_to_deploy)."""
        if self.deployed:
            return
        branches = [fuse_conv_bn(b.conv, b.bn1) for b in self.dw_rpr_conv]
        branches.append(fuse_conv_bn(self.dw_rpr_scale.conv, self.dw_rpr_scale.bn1))
        self.conv_dw = fused_conv(self.dw_rpr_conv[0].conv, *sum_branches(branches, self.kernel_size))
        del self.dw_rpr_conv
        del self.dw_rpr_scale
        self.rep_dw = False
        self.deployed = True

"""Shared building blocks of every network in the zoo.

Conventions (see the reference notes): convolutions use ``pad_mode="pad"`` with ``padding=k // 2`` so that
PyTorch-trained weights reproduce their outputs; BatchNorm uses MindSpore momentum 0.9 (PyTorch 0.1) and eps
1e-5. Hard sigmoid / hard swish and global pooling are written with ReLU6 and ReduceMean so that every network
exports to ONNX (MindSpore has no ONNX converter for HSigmoid, HSwish or AdaptiveAvgPool2d).
"""
import math
from typing import Callable, Optional

import mindspore as ms
from mindspore import nn, ops
from mindspore.common import initializer as init

from ..kernels.depthwise import DepthwiseConv2d
from .reparam import fuse_conv_bn, fused_conv, sum_branches

BN_MOMENTUM = 0.9
BN_EPS = 1e-5


def make_divisible(v: float, divisor: int, min_value: Optional[int] = None) -> int:
    """Round `v` to a multiple of `divisor` as the official GhostNet / MobileNet code does.

    Rounds to nearest, never below `min_value` (default `divisor`), and adds one `divisor` when rounding would
    lose more than 10% of `v`.
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class HardSigmoid(nn.Cell):
    """relu6(x + 3) / 6, the gate of GhostNet's squeeze-excite."""

    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6()

    def construct(self, x):
        return self.relu6(x + 3.0) / 6.0


class HardSwish(nn.Cell):
    """x * relu6(x + 3) / 6."""

    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6()

    def construct(self, x):
        return x * self.relu6(x + 3.0) / 6.0


_ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": HardSigmoid,
    "hard_swish": HardSwish,
}


def create_act(name: Optional[str]) -> Optional[nn.Cell]:
    """An activation cell by name, or None for `None` / "identity"."""
    if name is None or name == "identity":
        return None
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation '{name}'; known: {', '.join(sorted(_ACTIVATIONS))}")
    return _ACTIVATIONS[name]()


class GlobalAvgPool(nn.Cell):
    """Mean over H and W (ReduceMean, which exports to ONNX), keeping or flattening the spatial dims."""

    def __init__(self, keep_dims: bool = True):
        super().__init__()
        self.mean = ops.ReduceMean(keep_dims=keep_dims)

    def construct(self, x):
        return self.mean(x, (2, 3))


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
           bias: bool = False) -> nn.Conv2d:
    """Conv with PyTorch-style symmetric padding k // 2; a depthwise one is a DepthwiseConv2d (our CPU kernels where
    they win, the same parameters)."""
    cls = DepthwiseConv2d if 1 < groups == in_channels == out_channels else nn.Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, pad_mode="pad",
               padding=kernel_size // 2, group=groups, has_bias=bias)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
            act: Optional[str] = None) -> nn.SequentialCell:
    """conv + BN (+ act) as a SequentialCell: parameter keys `0.weight`, `1.gamma`, ... like torch's Sequential."""
    layers = [conv2d(in_channels, out_channels, kernel_size, stride, groups), batch_norm(out_channels)]
    act_cell = create_act(act)
    if act_cell is not None:
        layers.append(act_cell)
    return nn.SequentialCell(layers)


class ConvBnAct(nn.Cell):
    """conv + BN + act with the named children `conv`, `bn1` (timm's ConvBnAct key layout)."""

    conv_bn_pairs = (("conv", "bn1"),)  # what fuse.fold_batchnorm folds

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, act: Optional[str] = "relu"):
        super().__init__()
        self.conv = conv2d(in_channels, out_channels, kernel_size, stride, groups)
        self.bn1 = batch_norm(out_channels)
        self.act1 = create_act(act)
        self.has_act = self.act1 is not None

    def construct(self, x):
        x = self.bn1(self.conv(x))
        if self.has_act:
            x = self.act1(x)
        return x


def expand_gate(gate, x):
    """A per-channel gate (N, C, 1, 1) tiled to x's height and width, for the product `x * gate`.

    The same values as the implicitly broadcast product, but MindSpore 2.10's CPU Mul with a broadcast operand keeps
    about 4x its output's size allocated after the run: 16 chained products on 8x256x56x56 maps took +1583 MB and
    12.8 ms each broadcast, +54 MB and 7.1 ms each tiled first (graph mode). GENet's Gather-Excite and every
    squeeze-excite take it (genet_res50_theta_minus, batch 16 inference: peak RSS 2181 -> 886 MB). Tile rather than
    BroadcastTo: BroadcastTo needs the whole target shape, which a dynamic-batch export does not have, and ONNX's
    Expand takes no -1 for "keep"."""
    return ops.tile(gate, (1, 1) + x.shape[2:])


class SqueezeExcite(nn.Cell):
    """Squeeze-excite: global pool, 1x1 conv (bias) -> act -> 1x1 conv (bias), gate, multiply."""

    def __init__(self, channels: int, reduced_channels: int, act: str = "relu", gate: str = "hard_sigmoid"):
        super().__init__()
        self.pool = GlobalAvgPool(keep_dims=True)
        self.conv_reduce = nn.Conv2d(channels, reduced_channels, 1, has_bias=True)
        self.act1 = create_act(act)
        self.conv_expand = nn.Conv2d(reduced_channels, channels, 1, has_bias=True)
        self.gate = create_act(gate)

    def construct(self, x):
        s = self.conv_expand(self.act1(self.conv_reduce(self.pool(x))))
        return x * expand_gate(self.gate(s), x)


def nearest_indices(source: int, target: int):
    """Source rows of nearest upsampling from `source` to `target` rows, as torch's `F.interpolate(mode="nearest")`
    picks them: floor(i * source / target) (7 from 3: 0,0,0,1,1,2,2). An int32 Tensor; graph mode evaluates it at
    compile time, where shapes are constants."""
    return ms.Tensor([(i * source) // target for i in range(target)], ms.int32)


class DFCAttention(nn.SequentialCell):
    """GhostNetV2's decoupled fully connected attention (arXiv 2211.12905), the gate of a Ghost module.

    On the input average-pooled 2x2 (stride 2): a 1x1 conv to the module's output width, a 1x5 and a 5x1 depthwise
    conv (each followed by BN, no activation), a sigmoid, and nearest upsampling back to the input's size. The six
    layers are the children 0..5, as in timm's `short_conv`. A side shorter than 2 (the last stage at inputs under
    64x64, where timm's avg_pool2d fails) is not pooled.

    Written for MindSpore's ONNX exporter: the 1x5 / 5x1 convs pad "same" (the exporter writes an explicit
    per-side padding in MindSpore's top, bottom, left, right order where ONNX expects begins then ends, which
    mixes up (0, 0, 2, 2)); the upsampling is a Gather of constant row and column indices (the exporter's Resize
    fixes the batch size, wrong under a dynamic batch, and ResizeNearestNeighborV2 has no converter).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__([
            conv2d(in_channels, out_channels, 1), batch_norm(out_channels),
            nn.Conv2d(out_channels, out_channels, (1, 5), pad_mode="same", group=out_channels, has_bias=False),
            batch_norm(out_channels),
            nn.Conv2d(out_channels, out_channels, (5, 1), pad_mode="same", group=out_channels, has_bias=False),
            batch_norm(out_channels),
        ])
        self.sigmoid = ops.Sigmoid()
        self.gather = ops.Gather()

    def construct(self, x):
        height, width = x.shape[2], x.shape[3]
        pool_h, pool_w = min(2, height), min(2, width)
        y = x
        if pool_h * pool_w > 1:
            y = ops.AvgPool(kernel_size=(pool_h, pool_w), strides=(pool_h, pool_w))(x)
        for cell in self.cell_list:
            y = cell(y)
        y = self.sigmoid(y)
        if y.shape[2] != height:
            y = self.gather(y, nearest_indices(y.shape[2], height), 2)
        if y.shape[3] != width:
            y = self.gather(y, nearest_indices(y.shape[3], width), 3)
        return y


class GhostJoin:
    """The end of a Ghost module (mixed into GhostModule and GhostNetV3's module): the intrinsic maps `x1` and the
    ghost maps `x2` concatenated to `out_channels` maps, times the DFC attention gate of the module's input `x` when
    there is one. The module sets `concat`, `trim`, `cheap_channels`, `attention` (and `short_conv`)."""

    def join(self, x, x1, x2):
        if self.trim:
            x2 = x2[:, :self.cheap_channels]
        out = self.concat((x1, x2))
        if self.attention:
            out = out * self.short_conv(x)
        return out


class GhostModule(GhostJoin, nn.Cell):
    """Ghost module (arXiv 1911.11907): a primary conv makes ceil(out / ratio) intrinsic maps, a cheap depthwise
    conv derives the rest, and the concatenation has exactly `out_channels` maps.

    The official code concatenates and then slices to `out_channels`. Every width the zoo builds divides evenly
    (ratio 2, even widths), where that slice keeps everything; MindSpore's CPU graph still runs it as a
    StridedSlice over the whole map, which took most of GhostNet's inference time (python benchmark.py, NOTES).
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

    def construct(self, x):
        x1 = self.primary_conv(x)
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


def init_weights(net: nn.Cell) -> None:
    """The zoo's one weight initialisation: He-normal (fan out) convs, N(0, 0.01) dense, zero biases."""
    for _, cell in net.cells_and_names():
        if isinstance(cell, nn.Conv2d):
            cell.weight.set_data(init.initializer(init.HeNormal(mode="fan_out", nonlinearity="relu"),
                                                  cell.weight.shape, cell.weight.dtype))
            if cell.bias is not None:
                cell.bias.set_data(init.initializer("zeros", cell.bias.shape, cell.bias.dtype))
        elif isinstance(cell, nn.Dense):
            cell.weight.set_data(init.initializer(init.Normal(0.01), cell.weight.shape, cell.weight.dtype))
            if cell.bias is not None:
                cell.bias.set_data(init.initializer("zeros", cell.bias.shape, cell.bias.dtype))


class ClassifierMixin:
    """The one head of the zoo's networks and the uniform interface around it.

    `init_classifier` builds the global pool, an optional 1x1 conv head with its activation (GhostNet's
    `conv_head`: feature maps -> `head_channels`, with bias), dropout and the `classifier` Dense layer, as attributes
    of the network itself so that the parameter names stay `conv_head.*` and `classifier.*`. A network provides
    `forward_features`; `forward_head`, `construct`, `get_classifier` and `reset_classifier` come from here.
    """

    def init_classifier(self, in_channels: int, num_classes: int, drop_rate: float = 0.0,
                        head_channels: int = 0, head_act: str = "relu") -> None:
        self.num_classes = num_classes
        self.has_conv_head = head_channels > 0
        self.num_features = head_channels if self.has_conv_head else in_channels
        if self.has_conv_head:
            self.global_pool = GlobalAvgPool(keep_dims=True)
            self.conv_head = nn.Conv2d(in_channels, head_channels, 1, has_bias=True)
            self.act2 = create_act(head_act)
            self.flatten = ops.Flatten()
        else:
            self.global_pool = GlobalAvgPool(keep_dims=False)
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(self.num_features, num_classes)

    def forward_head(self, x):
        x = self.global_pool(x)
        if self.has_conv_head:
            x = self.flatten(self.act2(self.conv_head(x)))
        return self.classifier(self.dropout(x))

    def construct(self, x):
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Dense:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classification layer with a freshly initialised one for `num_classes` outputs."""
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        head = nn.Dense(self.num_features, num_classes)
        init_weights(head)
        self.classifier = head
        self.num_classes = num_classes
        # A cell attached after construction keeps bare parameter names; give them the network's prefix.
        for pname, param in head.parameters_and_names():
            param.name = f"classifier.{pname}"

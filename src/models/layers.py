"""Shared building blocks of every network in the zoo.

Conventions: convolutions use ``pad_mode="pad"`` with ``padding=k // 2`` so that
PyTorch-trained weights reproduce their outputs; BatchNorm uses MindSpore momentum 0.9 (PyTorch 0.1) and eps
1e-5. Hard sigmoid / hard swish and global pooling are written with ReLU6 and ReduceMean so that every network
exports to ONNX (MindSpore has no ONNX converter for HSigmoid, HSwish or AdaptiveAvgPool2d).
"""
from typing import Optional

from mindspore import nn, ops
from mindspore.common import initializer as init
from mindspore.ops.operations._grad_ops import ReluGrad

from ..kernels.batchnorm import BatchNorm2d
from ..kernels.depthwise import DepthwiseConv2d, register_activation
from ..kernels.pointwise import Conv2d, GateProduct, GlobalMean

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


class ReLU6(nn.Cell):
    """min(max(x, 0), 6), its gradient read from the output (0 < y < 6 exactly where 0 < x < 6; zero at x = 6,
    as PyTorch's, where MindSpore's passes it). MindSpore's ReLU6 gradient reads the input, which keeps each
    activation's input alive until the backward pass beside the output (docs/performance.md, Memory)."""

    def __init__(self):
        super().__init__()
        self.relu6 = ops.ReLU6()
        self.relu_grad = ReluGrad()

    def construct(self, x):
        return self.relu6(x)

    def bprop(self, x, out, dout):
        # dout * (out > 0) * (6 - out > 0). The depend orders `6 - out` after dout exists: without it the graph
        # may compute it in the forward pass and keep it, the copy this cell avoids.
        out = ops.depend(out, dout)
        return (self.relu_grad(self.relu_grad(dout, out), 6.0 - out),)


register_activation(ReLU6, "relu6")  # the same forward: our kernels may apply it after a folded conv


class HardSigmoid(nn.Cell):
    """relu6(x + 3) / 6, the gate of GhostNet's squeeze-excite."""

    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6()

    def construct(self, x):
        return self.relu6(x + 3.0) / 6.0


class UnitClamp(nn.Cell):
    """clamp(x, 0, 1): a squeeze-excite's hard sigmoid once `fuse.fold_hard_sigmoid` has moved its x / 6 + 0.5
    into the conv before it (exports as one ONNX Clip, which onnxruntime runs inside that conv)."""

    def construct(self, x):
        return ops.clamp(x, 0.0, 1.0)


class HardSwish(nn.Cell):
    """x * relu6(x + 3) / 6."""

    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6()

    def construct(self, x):
        return x * self.relu6(x + 3.0) / 6.0


_ACTIVATIONS = {
    "relu": nn.ReLU,
    "relu6": ReLU6,
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


GlobalAvgPool = GlobalMean  # the mean over H and W: our one-pass kernel on CPU, ReduceMean in exports


def conv2d(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
           bias: bool = False) -> nn.Conv2d:
    """Conv with PyTorch-style symmetric padding k // 2; a depthwise one is a DepthwiseConv2d (our CPU kernels where
    they win), any other our `pointwise.Conv2d` (bias + ReLU as one kernel after folding); the same parameters."""
    cls = DepthwiseConv2d if 1 < groups == in_channels == out_channels else Conv2d
    return cls(in_channels, out_channels, kernel_size, stride=stride, pad_mode="pad",
               padding=kernel_size // 2, group=groups, has_bias=bias)


def batch_norm(channels: int) -> nn.BatchNorm2d:
    """An nn.BatchNorm2d whose training-mode (batch statistics) path runs our CPU kernels where they can run
    (kernels/batchnorm.py); same parameters and checkpoints."""
    return BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


def norm_act(bn: nn.Cell, act: nn.Cell, x):
    """act(bn(x)), where a ReLU or ReLU6 after our BatchNorm runs inside its kernels (`bn(x, "relu")`: in training
    the graph then keeps neither output). Decided by the cells' types (and for ReLU6 by whether our BatchNorm kernel
    runs on x: elsewhere the network's own ReLU6 cell, whose gradient keeps no input) when the graph compiles, so a
    folded BatchNorm or an activation taken over by a conv (nn.Identity) takes the plain path."""
    if isinstance(bn, BatchNorm2d):
        if isinstance(act, nn.ReLU):
            return bn(x, "relu")
        if isinstance(act, (ReLU6, nn.ReLU6)) and bn.kernel_runs(x):
            return bn(x, "relu6")
    return act(bn(x))


class ConvBn(nn.SequentialCell):
    """conv + BN (+ act): a SequentialCell (parameter keys `0.weight`, `1.gamma`, ... like torch's Sequential) whose
    BN and act run as `norm_act`."""

    def construct(self, x):
        if len(self.cell_list) == 3:
            return norm_act(self.cell_list[1], self.cell_list[2], self.cell_list[0](x))
        return super().construct(x)


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
            act: Optional[str] = None) -> nn.SequentialCell:
    """conv + BN (+ act) as a `ConvBn`."""
    layers = [conv2d(in_channels, out_channels, kernel_size, stride, groups), batch_norm(out_channels)]
    act_cell = create_act(act)
    if act_cell is not None:
        layers.append(act_cell)
    return ConvBn(layers)


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
        if self.has_act:
            return norm_act(self.bn1, self.act1, self.conv(x))
        return self.bn1(self.conv(x))


def expand_gate(gate, x):
    """A per-channel gate (N, C, 1, 1) tiled to x's height and width, for the product `x * gate` (or a sum).

    The same values as the implicitly broadcast product, which MindSpore's CPU Mul (and Add) runs with several
    times the memory (docs/performance.md). Tile rather than BroadcastTo: BroadcastTo needs the whole target
    shape, which a dynamic-batch export does not have."""
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
        self.product = GateProduct()  # x * gate: our kernels on CPU, in training and inference graphs

    def construct(self, x):
        s = self.conv_expand(self.act1(self.conv_reduce(self.pool(x))))
        return self.product(x, self.gate(s))


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

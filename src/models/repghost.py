"""RepGhostNet (Chen et al., "RepGhost: A Hardware-Efficient Ghost Module via Re-parameterization", arXiv
2211.06088), widths 0.5 / 0.58 / 0.8 / 1.0 / 1.11 / 1.3 / 1.5 / 2.0.

GhostNet's network (one GhostNet class, ghostnet.py) with RepGhost's own table, GhostNet's with the expansion
widths halved, and the RepGhost module: instead of concatenating intrinsic and ghost maps it adds them, the
"ghost" branch being a 3x3 depthwise conv + BN beside a BN on the intrinsic maps themselves (the identity branch,
`fusion_bn`); `reparameterize()` folds the two into one depthwise conv with bias (`cheap_operation`), after which
the module is a 1x1 conv and a 3x3 depthwise conv. The feature width before the head is 960 x width (timm's
480 x 2).

Parameter names follow timm's `repghostnet_*` (the official code's), training form (`fusion_bn.0`,
`cheap_operation.{0,1}`) and deployed form (`cheap_operation` with bias): 4,073,604 parameters at 1.0x when
training, 4,058,772 deployed. timm's weights (the training form) convert one to one (BatchNorm renames only).
"""
from typing import Optional

from mindspore import nn, ops

from .convert import torch_bn_rename
from .ghostnet import GhostNet, timm_cfg
from .layers import batch_norm, conv_bn, create_act
from .registry import WeightSource, register_model
from .reparam import fuse_conv_bn, fuse_identity_bn, fused_conv, sum_branches

# One inner list per stage (16 bottlenecks in 9 stages, as GhostNet's).
# k, exp (absolute, scaled by the width), out, se_ratio, stride
REPGHOST_CFGS = [
    [(3, 8, 16, 0, 1)],
    [(3, 24, 24, 0, 2)],
    [(3, 36, 24, 0, 1)],
    [(5, 36, 40, 0.25, 2)],
    [(5, 60, 40, 0.25, 1)],
    [(3, 120, 80, 0, 2)],
    [(3, 100, 80, 0, 1), (3, 120, 80, 0, 1), (3, 120, 80, 0, 1), (3, 240, 112, 0.25, 1), (3, 336, 112, 0.25, 1)],
    [(5, 336, 160, 0.25, 2)],
    [(5, 480, 160, 0, 1), (5, 480, 160, 0.25, 1), (5, 480, 160, 0, 1), (5, 480, 160, 0.25, 1)],
]


class RepGhostModule(nn.Cell):
    """1x1 conv + BN (+ act), then act(3x3 depthwise conv + BN  +  BN) of those maps (timm's RepGhostModule with
    reparam=True). With an activation, ghost1 applies it after the primary conv and again after the sum."""

    # deployed, construct is relu(cheap_operation(x1)): kernels.fusion hands the ReLU to the conv (before
    # deployment cheap_operation is a SequentialCell, which the pass leaves alone)
    conv_act_pairs = (("cheap_operation", "relu"),)

    def __init__(self, in_channels: int, out_channels: int, act: Optional[str] = "relu", dw_size: int = 3):
        super().__init__()
        self.dw_size = dw_size
        self.primary_conv = conv_bn(in_channels, out_channels, 1, act=act)
        self.fusion_bn = nn.SequentialCell([batch_norm(out_channels)])
        self.cheap_operation = conv_bn(out_channels, out_channels, dw_size, groups=out_channels)
        self.relu = create_act(act)
        self.has_act = self.relu is not None
        self.deployed = False
        self.add = ops.Add()
        if self.fusion_bn[0].use_kernel and isinstance(self.relu, nn.ReLU):
            # Our BatchNorm recomputes both summands in the backward pass (kernels/batchnorm.py: apply_op); the sum
            # and its ReLU are recomputed from them too, so training keeps only the two convs' outputs per module.
            self.add.recompute()
            self.relu.relu.recompute()

    def construct(self, x):
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        if not self.deployed:
            x2 = self.add(x2, self.fusion_bn(x1))
        if self.has_act:
            x2 = self.relu(x2)
        return x2

    def switch_to_deploy(self) -> None:
        """Fold the identity BN into the depthwise conv + BN: `cheap_operation` becomes one conv with bias."""
        if self.deployed:
            return
        conv, bn = self.cheap_operation[0], self.cheap_operation[1]
        branches = [fuse_conv_bn(conv, bn), fuse_identity_bn(self.fusion_bn[0], self.dw_size, groups=conv.group)]
        self.cheap_operation = fused_conv(conv, *sum_branches(branches, self.dw_size))
        del self.fusion_bn
        self.deployed = True


_TIMM = {"timm": WeightSource(torch_bn_rename)}


def _repghostnet(width: float, num_classes: int, **kwargs) -> GhostNet:
    return GhostNet(REPGHOST_CFGS, num_classes, width=width, module=RepGhostModule, **kwargs)


def _cfg(name: str, macs: str, top1: str):
    return timm_cfg(f"timm: {name}.in1k (official repghostnet_{macs}_{top1}.pth.tar)")


@register_model(default_cfg=_cfg("repghostnet_050", "0_5x_43M", "66.95"), sources=_TIMM)
def repghostnet_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(0.5, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_058", "0_58x_60M", "68.94"), sources=_TIMM)
def repghostnet_058(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(0.58, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_080", "0_8x_96M", "72.24"), sources=_TIMM)
def repghostnet_080(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(0.8, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_100", "1_0x_142M", "74.22"), sources=_TIMM)
def repghostnet_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(1.0, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_111", "1_11x_170M", "75.07"), sources=_TIMM)
def repghostnet_111(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(1.11, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_130", "1_3x_231M", "76.37"), sources=_TIMM)
def repghostnet_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(1.3, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_150", "1_5x_301M", "77.45"), sources=_TIMM)
def repghostnet_150(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(1.5, num_classes, **kwargs)


@register_model(default_cfg=_cfg("repghostnet_200", "2_0x_516M", "78.81"), sources=_TIMM)
def repghostnet_200(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _repghostnet(2.0, num_classes, **kwargs)

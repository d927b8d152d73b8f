"""GhostNetV3 (Liu et al., "GhostNetV3: Exploring the Training Strategies for Compact Models", arXiv 2404.11202),
widths 0.5 / 1.0 / 1.3 / 1.6.

GhostNetV2's network (DFC attention from the third bottleneck on) trained with re-parameterisable branches:
- every Ghost module (GhostModuleV3) makes its intrinsic maps with 3 parallel 1x1 conv + BN branches (summed,
  then the activation) and its ghost maps with 3 parallel 3x3 depthwise conv + BN branches, a 1x1 depthwise
  conv + BN scale branch and a BN identity branch;
- the stride-2 depthwise conv of a bottleneck is 3 parallel k x k conv + BN branches and a 1x1 conv + BN scale
  branch (layers.GhostBottleneck with dw_branches=3).
`reparameterize()` folds each group of branches into one conv with bias (src/models/reparam.py); the deployed
network has GhostNetV2's structure and MACs, with biases instead of those BNs.

Parameter names follow timm's `ghostnetv3_*` (the official Efficient-AI-Backbones code with timm's `bn1` for the
branches' BN), training form (`primary_rpr_conv`, `cheap_rpr_*`, `dw_rpr_*`) and deployed form
(`primary_conv.0`, `cheap_operation.0`, `conv_dw` with bias): 8,129,028 parameters at 1.0x when training and
6,147,588 deployed. timm's weights are the training form and convert one to one; the official checkpoint's `bn.`
(instead of `bn1.`) and thop's `total_ops` / `total_params` entries are accepted too, as timm's filter does.
"""
import math
import re
from typing import Mapping, Optional

from mindspore import nn, ops

from .convert import torch_bn_rename
from .ghostnet import GHOSTNET_CFGS, GhostNet, timm_cfg
from .ghost import DFCAttention, GhostJoin
from .layers import ConvBnAct, batch_norm, create_act
from .registry import WeightSource, register_model
from .reparam import fuse_conv_bn, fuse_identity_bn, fused_conv, sum_branches

NUM_BRANCHES = 3     # parallel conv + BN branches of every re-parameterisable conv (timm's num_conv_branches)
ATTENTION_FROM = 2   # DFC attention in ghost1 of every block but the first two, as in GhostNetV2


class GhostModuleV3(GhostJoin, nn.Cell):
    """Ghost module with re-parameterisable branches (timm's GhostModuleV3); `attention` is timm's
    mode='shortcut' (DFC attention, as in GhostNetV2). Output: concat(intrinsic, ghost), out_channels maps (x gate)."""

    # after switch_to_deploy and folding, what kernels.fusion hands to the convs (each activation takes one conv's
    # output and nothing else does)
    conv_act_pairs = (("primary_conv.0", "primary_activation"), ("cheap_operation.0", "cheap_activation"))

    def __init__(self, in_channels: int, out_channels: int, act: Optional[str] = "relu", attention: bool = False,
                 branches: int = NUM_BRANCHES):
        super().__init__()
        self.out_channels = out_channels
        self.branches = branches
        init_channels = math.ceil(out_channels / 2)
        self.primary_rpr_conv = nn.CellList([ConvBnAct(in_channels, init_channels, 1, act=None)
                                             for _ in range(branches)])
        self.primary_activation = create_act(act)
        self.cheap_rpr_skip = batch_norm(init_channels)
        self.cheap_rpr_conv = nn.CellList([ConvBnAct(init_channels, init_channels, 3, groups=init_channels, act=None)
                                           for _ in range(branches)])
        self.cheap_rpr_scale = ConvBnAct(init_channels, init_channels, 1, groups=init_channels, act=None)
        self.cheap_activation = create_act(act)
        self.has_act = self.primary_activation is not None
        self.attention = attention
        if attention:
            self.short_conv = DFCAttention(in_channels, out_channels)
        self.concat = ops.Concat(axis=1)
        self.cheap_channels = out_channels - init_channels  # ghost maps kept (the slice only where widths need it,
        self.trim = self.cheap_channels < init_channels     # on the cheap maps: see layers.GhostModule)
        self.deployed = False

    def construct(self, x):
        if self.deployed:
            x1 = self.primary_conv(x)
        else:
            x1 = self.primary_rpr_conv[0](x)
            for i in range(1, self.branches):
                x1 = x1 + self.primary_rpr_conv[i](x)
        if self.has_act:
            x1 = self.primary_activation(x1)
        if self.joins(x1):
            return self.joined(x, x1)
        if self.deployed:
            x2 = self.cheap_operation(x1)
        else:
            x2 = self.cheap_rpr_scale(x1) + self.cheap_rpr_skip(x1)
            for branch in self.cheap_rpr_conv:
                x2 = x2 + branch(x1)
        if self.has_act:
            x2 = self.cheap_activation(x2)
        return self.join(x, x1, x2)

    def switch_to_deploy(self) -> None:
        """Fold the branches into `primary_conv.0` (1x1) and `cheap_operation.0` (3x3 depthwise), both with bias."""
        if self.deployed:
            return
        primary = [fuse_conv_bn(b.conv, b.bn1) for b in self.primary_rpr_conv]
        cheap_template = self.cheap_rpr_conv[0].conv
        cheap = [fuse_conv_bn(b.conv, b.bn1) for b in self.cheap_rpr_conv]
        cheap.append(fuse_conv_bn(self.cheap_rpr_scale.conv, self.cheap_rpr_scale.bn1))
        cheap.append(fuse_identity_bn(self.cheap_rpr_skip, 3, groups=cheap_template.group))
        self.primary_conv = nn.SequentialCell([fused_conv(self.primary_rpr_conv[0].conv, *sum_branches(primary, 1))])
        self.cheap_operation = nn.SequentialCell([fused_conv(cheap_template, *sum_branches(cheap, 3))])
        for name in ("primary_rpr_conv", "cheap_rpr_skip", "cheap_rpr_conv", "cheap_rpr_scale"):
            delattr(self, name)
        self.deployed = True


# --- checkpoint filter ------------------------------------------------------------------------------------------
_OFFICIAL_BN = re.compile(r"\.bn\.")


def _timm_rename(name: str, state: Mapping) -> Optional[str]:
    """timm's names (BatchNorm renames only); the official checkpoint calls the branches' BN `bn` where timm says
    `bn1` (timm's checkpoint_filter_fn renames it inside the Ghost modules and the dw branches)."""
    ours = torch_bn_rename(name, state)
    if ".ghost" in ours or ".dw_rpr_" in ours:
        ours = _OFFICIAL_BN.sub(".bn1.", ours)
    return ours


_TIMM = {"timm": WeightSource(_timm_rename)}


def _ghostnetv3(width: float, num_classes: int, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=width, module=GhostModuleV3, attention_from=ATTENTION_FROM,
                    dw_branches=NUM_BRANCHES, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv3_050 (untrained in timm)"), sources=_TIMM)
def ghostnetv3_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv3(0.5, num_classes, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv3_100.in1k (official ghostnetv3-1.0.pth.tar)"), sources=_TIMM)
def ghostnetv3_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv3(1.0, num_classes, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv3_130 (untrained in timm)"), sources=_TIMM)
def ghostnetv3_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv3(1.3, num_classes, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv3_160 (untrained in timm)"), sources=_TIMM)
def ghostnetv3_160(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv3(1.6, num_classes, **kwargs)

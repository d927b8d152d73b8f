"""GhostNetV2 (Tang et al., "GhostNetV2: Enhance Cheap Operation with Long-Range Attention", NeurIPS 2022,
arXiv 2211.12905), widths 1.0 / 1.3 / 1.6.

GhostNet's network and block table (ghostnet.GHOSTNET_CFGS) with DFC attention in the first Ghost module of every
bottleneck from the third on (timm's `mode='attn'` for layer_idx > 1): the module's output is gated by
sigmoid(1x1 conv -> BN -> 1x5 dw conv -> BN -> 5x1 dw conv -> BN) of its input pooled 2x2, upsampled nearest
(layers.DFCAttention). Structure and parameter names follow timm's `ghostnetv2_100/130/160` (which are the
official Efficient-AI-Backbones code's), so timm's weights convert one to one (BatchNorm renames only):
6,156,908 / 8,960,404 / 12,392,698 parameters at 1000 classes.
"""
from .convert import torch_bn_rename
from .ghostnet import GHOSTNET_CFGS, GhostNet, timm_cfg
from .registry import WeightSource, register_model

ATTENTION_FROM = 2  # blocks.0.0 and blocks.1.0 have plain Ghost modules

_TIMM = {"timm": WeightSource(torch_bn_rename)}


def _ghostnetv2(width: float, num_classes: int, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=width, attention_from=ATTENTION_FROM, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv2_100.in1k (official ck_ghostnetv2_10.pth.tar)"),
                sources=_TIMM)
def ghostnetv2_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv2(1.0, num_classes, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv2_130.in1k (official ck_ghostnetv2_13.pth.tar)"),
                sources=_TIMM)
def ghostnetv2_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv2(1.3, num_classes, **kwargs)


@register_model(default_cfg=timm_cfg("timm: ghostnetv2_160.in1k (official ck_ghostnetv2_16.pth.tar)"),
                sources=_TIMM)
def ghostnetv2_160(num_classes: int = 1000, **kwargs) -> GhostNet:
    return _ghostnetv2(1.6, num_classes, **kwargs)

"""GhostNet600: the model zoo's ~600M-FLOPs GhostNet (`ghostnet600.py` of research/cv/ghostnet).

Width 1.75, h-swish in the stem, the Ghost modules and the head, squeeze-excite with reduction 10 on every block,
and a 1400-wide head. Built from the shared Ghost bottleneck; it reuses GhostNet's forward pass. No PyTorch weights
exist for it. 11,939,796 parameters at 1000 classes.
"""
from mindspore import nn, ops

from .ghostnet import GhostNet
from .layers import (ConvBnAct, GhostBottleneck, GlobalAvgPool, HardSwish, batch_norm, conv2d, init_weights,
                     make_divisible)
from .registry import register_model

# k, expansion ratio (of the block's input width), out, stride; out is scaled by the width multiplier.
GHOSTNET600_BLOCKS = [
    (3, 1, 16, 1),
    (3, 3, 24, 2), (3, 3, 24, 1),
    (5, 3, 40, 2), (3, 3, 40, 1), (3, 3, 40, 1),
    (3, 6, 80, 2), (3, 2.5, 80, 1), (3, 2.5, 80, 1), (3, 2.5, 80, 1),
    (3, 6, 112, 1), (3, 6, 112, 1), (3, 6, 112, 1),
    (5, 6, 160, 2), (3, 6, 160, 1), (3, 6, 160, 1), (3, 6, 160, 1), (3, 6, 160, 1), (3, 6, 160, 1),
]
SE_REDUCTION = 10
FEATURE_CHANNELS = 960   # scaled by the width: 1680 at 1.75
HEAD_CHANNELS = 1400


class GhostNet600(GhostNet):
    """The 600M GhostNet; attribute names match GhostNet so its forward_features / forward_head apply."""

    def __init__(self, num_classes: int = 1000, width: float = 1.75, drop_rate: float = 0.2, in_channels: int = 3):
        nn.Cell.__init__(self)
        self.num_classes = num_classes
        stem_channels = make_divisible(16 * width, 4)
        self.conv_stem = conv2d(in_channels, stem_channels, 3, stride=2)
        self.bn1 = batch_norm(stem_channels)
        self.act1 = HardSwish()
        channels = stem_channels
        blocks = []
        for k, exp_ratio, out, stride in GHOSTNET600_BLOCKS:
            mid_channels = make_divisible(channels * exp_ratio, 8)
            out_channels = make_divisible(out * width, 4)
            se_channels = make_divisible(mid_channels // SE_REDUCTION, 8)
            blocks.append(GhostBottleneck(channels, mid_channels, out_channels, k, stride, se_channels,
                                          act="hard_swish"))
            channels = out_channels
        feature_channels = make_divisible(FEATURE_CHANNELS * width, 4)
        blocks.append(ConvBnAct(channels, feature_channels, 1, act="hard_swish"))
        self.blocks = nn.SequentialCell(blocks)
        self.num_features = HEAD_CHANNELS
        self.global_pool = GlobalAvgPool(keep_dims=True)
        self.conv_head = nn.Conv2d(feature_channels, HEAD_CHANNELS, 1, has_bias=True)
        self.act2 = HardSwish()
        self.flatten = ops.Flatten()
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(HEAD_CHANNELS, num_classes)
        init_weights(self)


@register_model
def ghostnet_600m(num_classes: int = 1000, **kwargs) -> GhostNet600:
    return GhostNet600(num_classes, **kwargs)

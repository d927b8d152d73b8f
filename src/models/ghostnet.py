"""GhostNet (Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020, arXiv 1911.11907).

Structure and parameter names follow the official PyTorch code (and timm's `ghostnet_100`), so the official
weights map one to one: `conv_stem`, `bn1`, `blocks.{stage}.{j}.*`, `blocks.9.0.conv` / `blocks.9.0.bn1`,
`conv_head`, `classifier`. Widths are `make_divisible(c * width, 4)`.
"""
from mindspore import nn, ops

from .layers import (ClassifierMixin, ConvBnAct, GhostBottleneck, GlobalAvgPool, batch_norm, conv2d,
                     init_weights, make_divisible)
from .registry import register_model

# One inner list per stage (the official grouping: 16 bottlenecks in 9 stages).
# k, exp, out, se_ratio, stride
GHOSTNET_STAGES = [
    [(3, 16, 16, 0, 1)],
    [(3, 48, 24, 0, 2)],
    [(3, 72, 24, 0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0, 2)],
    [(3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)],
    [(5, 672, 160, 0.25, 2)],
    [(5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)],
]
HEAD_CHANNELS = 1280  # the head's hidden width is not scaled by the width multiplier


class GhostNet(ClassifierMixin, nn.Cell):
    """GhostNet with width multiplier `width`; `use_se=False` gives the no-SE ("nose") variant."""

    def __init__(self, num_classes: int = 1000, width: float = 1.0, drop_rate: float = 0.2,
                 in_channels: int = 3, use_se: bool = True, stages=GHOSTNET_STAGES):
        super().__init__()
        self.num_classes = num_classes
        stem_channels = make_divisible(16 * width, 4)
        self.conv_stem = conv2d(in_channels, stem_channels, 3, stride=2)
        self.bn1 = batch_norm(stem_channels)
        self.act1 = nn.ReLU()

        channels = stem_channels
        stage_cells = []
        for stage in stages:
            blocks = []
            for k, exp, out, se_ratio, stride in stage:
                out_channels = make_divisible(out * width, 4)
                mid_channels = make_divisible(exp * width, 4)
                se_channels = make_divisible(mid_channels * se_ratio, 4) if (use_se and se_ratio > 0) else 0
                blocks.append(GhostBottleneck(channels, mid_channels, out_channels, k, stride, se_channels))
                channels = out_channels
            stage_cells.append(nn.SequentialCell(blocks))
        feature_channels = make_divisible(stages[-1][-1][1] * width, 4)
        stage_cells.append(nn.SequentialCell([ConvBnAct(channels, feature_channels, 1)]))
        self.blocks = nn.SequentialCell(stage_cells)

        self.num_features = HEAD_CHANNELS
        self.global_pool = GlobalAvgPool(keep_dims=True)
        self.conv_head = nn.Conv2d(feature_channels, HEAD_CHANNELS, 1, has_bias=True)
        self.act2 = nn.ReLU()
        self.flatten = ops.Flatten()
        self.dropout = nn.Dropout(p=drop_rate) if drop_rate > 0 else nn.Identity()
        self.classifier = nn.Dense(HEAD_CHANNELS, num_classes)
        init_weights(self)

    def forward_features(self, x):
        x = self.act1(self.bn1(self.conv_stem(x)))
        return self.blocks(x)

    def forward_head(self, x):
        x = self.act2(self.conv_head(self.global_pool(x)))
        x = self.dropout(self.flatten(x))
        return self.classifier(x)



@register_model
def ghostnet_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=0.5, **kwargs)


@register_model
def ghostnet_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=1.0, **kwargs)


@register_model
def ghostnet_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=1.3, **kwargs)


@register_model
def ghostnet_nose_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=0.5, use_se=False, **kwargs)


@register_model
def ghostnet_nose_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=1.0, use_se=False, **kwargs)


@register_model
def ghostnet_nose_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(num_classes, width=1.3, use_se=False, **kwargs)

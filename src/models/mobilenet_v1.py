"""MobileNetV1 (Howard et al., "MobileNets", arXiv 1704.04861), widths 0.25 / 0.5 / 0.75 / 1.0.

conv + BN + ReLU6 throughout: a 3x3 stride-2 stem, 13 depthwise-separable pairs (depthwise 3x3 + BN + ReLU6,
pointwise 1x1 + BN + ReLU6), global average pool, dropout, Dense. Parameter names follow timm's
`mobilenetv1_100` (`conv_stem`, `bn1`, `blocks.{stage}.{j}.conv_dw / bn1 / conv_pw / bn2`, `classifier`) so its
weights map one to one. 4,231,976 parameters at width 1.0 and 1000 classes. Works at 32x32 (CIFAR-10) and 224x224.
"""
from mindspore import nn

from .layers import ClassifierMixin, batch_norm, conv2d, init_weights, make_divisible
from .registry import register_model

# One inner list per stage (timm's grouping: 1, 2, 2, 6, 2 blocks). out, stride
MOBILENET_V1_STAGES = [
    [(64, 1)],
    [(128, 2), (128, 1)],
    [(256, 2), (256, 1)],
    [(512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)],
    [(1024, 2), (1024, 1)],
]


class DepthwiseSeparable(nn.Cell):
    """Depthwise 3x3 conv + BN + ReLU6, then pointwise 1x1 conv + BN + ReLU6."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv_dw = conv2d(in_channels, in_channels, 3, stride, groups=in_channels)
        self.bn1 = batch_norm(in_channels)
        self.conv_pw = conv2d(in_channels, out_channels, 1)
        self.bn2 = batch_norm(out_channels)
        self.act = nn.ReLU6()

    def construct(self, x):
        x = self.act(self.bn1(self.conv_dw(x)))
        return self.act(self.bn2(self.conv_pw(x)))


class MobileNetV1(ClassifierMixin, nn.Cell):
    def __init__(self, num_classes: int = 1000, width: float = 1.0, drop_rate: float = 0.0, in_channels: int = 3):
        super().__init__()
        channels = make_divisible(32 * width, 8)
        self.conv_stem = conv2d(in_channels, channels, 3, stride=2)
        self.bn1 = batch_norm(channels)
        self.act1 = nn.ReLU6()
        stages = []
        for stage in MOBILENET_V1_STAGES:
            blocks = []
            for out, stride in stage:
                out_channels = make_divisible(out * width, 8)
                blocks.append(DepthwiseSeparable(channels, out_channels, stride))
                channels = out_channels
            stages.append(nn.SequentialCell(blocks))
        self.blocks = nn.SequentialCell(stages)
        self.init_classifier(channels, num_classes, drop_rate)
        init_weights(self)

    def forward_features(self, x):
        return self.blocks(self.act1(self.bn1(self.conv_stem(x))))


@register_model
def mobilenet_v1_025(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.25, **kwargs)


@register_model
def mobilenet_v1_050(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.5, **kwargs)


@register_model
def mobilenet_v1_075(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.75, **kwargs)


@register_model
def mobilenet_v1_100(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=1.0, **kwargs)

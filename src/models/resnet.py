"""The ResNet pieces that GENet-Res50 and GhostNet-D share: the stem, the bottleneck with an attention hook, and the
plain stage.

`Bottleneck` is ResNet v1.5 (stride on the 3x3): 1x1 -> 3x3 -> 1x1, each conv + BN, then an optional attention
module on the branch output (GENet's Gather-Excite; none in GhostNet-D), the shortcut (identity, or a 1x1 conv +
BN projection when the shape changes), the sum and ReLU. Children follow torchvision's names (`conv1`, `bn1`, ...,
`bn3`, `downsample`); the attention's attribute name is part of the parameter names (GENet's is `ge`), so the
network building the block chooses it.
"""
from typing import Optional

from mindspore import nn

from .features import Level
from .layers import batch_norm, conv2d, conv_bn, norm_act

EXPANSION = 4  # a bottleneck's output width over its 3x3 width


class Bottleneck(nn.Cell):
    conv_bn_pairs = (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"))

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1,
                 attn: Optional[nn.Cell] = None, attn_name: str = "attn"):
        super().__init__()
        self.conv1 = conv2d(in_channels, mid_channels, 1)
        self.bn1 = batch_norm(mid_channels)
        self.conv2 = conv2d(mid_channels, mid_channels, 3, stride=stride)
        self.bn2 = batch_norm(mid_channels)
        self.conv3 = conv2d(mid_channels, out_channels, 1)
        self.bn3 = batch_norm(out_channels)
        self.relu = nn.ReLU()
        self.has_attn = attn is not None
        self.attn_name = attn_name
        # an attention that gates bn3's output by a gate computed from it (`gate_of`) without keeping that output
        # for its own gradient: with our training BatchNorm, the product's gradient then reads bn3's input instead
        self.gate_after_bn = getattr(attn, "gate_after_bn", False)
        if self.has_attn:
            setattr(self, attn_name, attn)
        self.has_downsample = stride != 1 or in_channels != out_channels
        if self.has_downsample:
            self.downsample = conv_bn(in_channels, out_channels, 1, stride=stride)

    def construct(self, x):
        identity = x
        out = norm_act(self.bn1, self.relu, self.conv1(x))
        out = norm_act(self.bn2, self.relu, self.conv2(out))
        out = self.conv3(out)
        if self.gate_after_bn and self.training and self.bn3.kernel_runs(out):
            norm = self.bn3.train_outputs(out)
            out = self.bn3.gate_product(out, norm, getattr(self, self.attn_name).gate_of(norm[0]))
        else:
            out = self.bn3(out)
            if self.has_attn:
                out = getattr(self, self.attn_name)(out)
        if self.has_downsample:
            identity = self.downsample(x)
        return self.relu(out + identity)


def make_layer(in_channels: int, planes: int, blocks: int, stride: int = 1) -> nn.SequentialCell:
    """A plain ResNet stage: `blocks` bottlenecks of width `planes` (output planes * 4), the first with the stride."""
    out_channels = planes * EXPANSION
    layers = [Bottleneck(in_channels, planes, out_channels, stride)]
    layers += [Bottleneck(out_channels, planes, out_channels) for _ in range(blocks - 1)]
    return nn.SequentialCell(layers)


def out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Spatial output size of a convolution or pooling window (PyTorch formula, floor)."""
    return (size + 2 * padding - kernel) // stride + 1


class ResNetMixin:
    """The ResNet stem (7x7 stride-2 conv + BN + ReLU, 3x3 stride-2 max pool with padding 1; torchvision's names
    `conv1`, `bn1`) and the pass through `layer1` .. `layer4` (`forward_stages`, the default `forward_features`)."""

    STEM_CHANNELS = 64
    conv_bn_pairs = (("conv1", "bn1"),)

    def init_stem(self, in_channels: int) -> int:
        self.conv1 = conv2d(in_channels, self.STEM_CHANNELS, 7, stride=2)
        self.bn1 = batch_norm(self.STEM_CHANNELS)
        self.relu = nn.ReLU()
        # Max pooling with padding 1 as zero padding + valid pooling: the input follows a ReLU (>= 0), so zeros
        # never win, and MaxPool2d(pad_mode="pad") exports to ONNX as the unsupported MaxPool3DWithArgmax.
        self.pad = nn.Pad(((0, 0), (0, 0), (1, 1), (1, 1)))
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, pad_mode="valid")
        return self.STEM_CHANNELS

    def init_feature_levels(self, stage_channels, stage_strides, checks: tuple = ()) -> None:
        """The feature levels (timm's ResNet levels): the stem after its ReLU, then layer1 .. layer4; `checks`
        are cells run first (an input check)."""
        self.feature_steps = tuple(checks) + ("conv1", "bn1", "relu", "pad", "maxpool", "layer1", "layer2",
                                              "layer3", "layer4")
        levels, reduction = [Level("relu", self.STEM_CHANNELS, 2)], 4
        for index, (channels, stride) in enumerate(zip(stage_channels, stage_strides), start=1):
            reduction *= stride
            levels.append(Level(f"layer{index}", channels, reduction))
        self.feature_levels = tuple(levels)

    def stem_output_size(self, image_size: int) -> int:
        return out_size(out_size(image_size, 7, 2, 3), 3, 2, 1)

    def forward_stages(self, x):
        # Padded before the ReLU (the same values: relu(0) = 0): the ReLU's output, which its gradient reads, is
        # then the max pool's input, which the pool's gradient reads, one tensor kept instead of two.
        x = self.maxpool(self.relu(self.pad(self.bn1(self.conv1(x)))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_features(self, x):
        return self.forward_stages(x)

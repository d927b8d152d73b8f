"""MobileNetV1 (Howard et al., "MobileNets", arXiv 1704.04861), widths 0.25 / 0.5 / 0.75 / 1.0.

conv + BN + ReLU6 throughout: a 3x3 stride-2 stem, 13 depthwise-separable pairs (depthwise 3x3 + BN + ReLU6,
pointwise 1x1 + BN + ReLU6), global average pool, dropout, Dense. Parameter names follow timm's
`mobilenetv1_100` (`conv_stem`, `bn1`, `blocks.{stage}.{j}.conv_dw / bn1 / conv_pw / bn2`, `classifier`) so its
weights map one to one. 4,231,976 parameters at width 1.0 and 1000 classes. Works at 32x32 (CIFAR-10) and 224x224.

Checkpoint filters: timm's `mobilenetv1_100` (BatchNorm renames; trained with mean = std = 0.5, bicubic, crop 0.95
at 224), the model zoo's `mobilenet_v1` (`network.{0..26}.{0: conv, 1: BN}`, `fc`, a 1001-class head) and MindCV's
`mobilenet_v1_{025,050,075,100}` (`features.{0,1}` stem, `features.{3..15}.{0,1,3,4}` dw / pw conv and BN,
`classifier`; a 1001-class head whose last row is unused, ReLU instead of ReLU6: loaded with `act="relu"`).
"""
import re
from typing import Mapping, Optional

from mindspore import nn

from .convert import stage_positions, torch_bn_rename
from .features import Level
from .layers import ClassifierMixin, batch_norm, conv2d, create_act, init_weights, make_divisible, norm_act
from .registry import DefaultCfg, WeightSource, register_model

# One inner list per stage (timm's grouping: 1, 2, 2, 6, 2 blocks). out, stride
MOBILENET_V1_STAGES = [
    [(64, 1)],
    [(128, 2), (128, 1)],
    [(256, 2), (256, 1)],
    [(512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1)],
    [(1024, 2), (1024, 1)],
]


class DepthwiseSeparable(nn.Cell):
    """Depthwise 3x3 conv + BN + act, then pointwise 1x1 conv + BN + act (ReLU6; MindCV's weights: ReLU)."""

    conv_bn_pairs = (("conv_dw", "bn1"), ("conv_pw", "bn2"))
    conv_act_pairs = (("conv_dw", "act_dw"), ("conv_pw", "act"))  # what kernels.fusion hands to the convs

    def __init__(self, in_channels: int, out_channels: int, stride: int, act: str = "relu6"):
        super().__init__()
        self.conv_dw = conv2d(in_channels, in_channels, 3, stride, groups=in_channels)
        self.bn1 = batch_norm(in_channels)
        self.conv_pw = conv2d(in_channels, out_channels, 1)
        self.bn2 = batch_norm(out_channels)
        self.act_dw = create_act(act)  # its own cell (no parameters), so that the depthwise one can be fused
        self.act = create_act(act)

    def construct(self, x):
        x = norm_act(self.bn1, self.act_dw, self.conv_dw(x))
        return norm_act(self.bn2, self.act, self.conv_pw(x))


class MobileNetV1(ClassifierMixin, nn.Cell):
    conv_bn_pairs = (("conv_stem", "bn1"),)
    conv_act_pairs = (("conv_stem", "act1"),)  # after folding, the stem's ReLU joins its bias (kernels.fusion)

    def __init__(self, num_classes: int = 1000, width: float = 1.0, drop_rate: float = 0.0, in_channels: int = 3,
                 act: str = "relu6"):
        super().__init__()
        channels = make_divisible(32 * width, 8)
        self.conv_stem = conv2d(in_channels, channels, 3, stride=2)
        self.bn1 = batch_norm(channels)
        self.act1 = create_act(act)
        stages, levels, reduction = [], [], 2
        for stage in MOBILENET_V1_STAGES:
            blocks = []
            for out, stride in stage:
                out_channels = make_divisible(out * width, 8)
                blocks.append(DepthwiseSeparable(channels, out_channels, stride, act))
                channels = out_channels
                reduction *= stride
            stages.append(nn.SequentialCell(blocks))
            levels.append(Level(f"blocks.{len(stages) - 1}", channels, reduction))  # every stage (timm's levels)
        self.blocks = nn.SequentialCell(stages)
        self.feature_steps = ("conv_stem", "bn1", "act1") + tuple(f"blocks.{i}" for i in range(len(stages)))
        self.feature_levels = tuple(levels)
        self.init_classifier(channels, num_classes, drop_rate)
        init_weights(self)

    def forward_features(self, x):
        return self.blocks(norm_act(self.bn1, self.act1, self.conv_stem(x)))


def _zoo_rename(name: str, state: Mapping) -> Optional[str]:
    """official/cv/MobileNet/mobilenetv1/src/mobilenet_v1.py: `network.{0..26}`, each a SequentialCell of conv (0),
    BN (1), ReLU6: 0 is the stem, then depthwise (odd) / pointwise (even) pairs; `fc` is the Dense head."""
    m = re.match(r"^fc\.(weight|bias)$", name)
    if m:
        return f"classifier.{m.group(1)}"
    m = re.match(r"^network\.(\d+)\.([01])\.(\w+)$", name)
    if not m:
        return None
    unit, part, leaf = int(m.group(1)), m.group(2), m.group(3)
    if (part == "0") != (leaf == "weight"):
        return None
    positions = stage_positions(len(stage) for stage in MOBILENET_V1_STAGES)
    if unit == 0:
        return "conv_stem.weight" if part == "0" else f"bn1.{leaf}"
    block = (unit - 1) // 2
    if block >= len(positions):
        return None
    s, j = positions[block]
    depthwise = unit % 2 == 1
    if part == "0":
        return f"blocks.{s}.{j}.{'conv_dw' if depthwise else 'conv_pw'}.weight"
    return f"blocks.{s}.{j}.{'bn1' if depthwise else 'bn2'}.{leaf}"


def _mindcv_rename(name: str, state: Mapping) -> Optional[str]:
    """MindCV's mobilenetv1.py: `features` = stem conv (0), BN (1), ReLU (2), then the 13 depthwise-separable
    blocks (3..15), each a SequentialCell of dw conv (0), BN (1), ReLU, pw conv (3), BN (4), ReLU."""
    if re.match(r"^classifier\.(weight|bias)$", name):
        return name
    m = re.match(r"^features\.([01])\.(\w+)$", name)
    if m:
        part, leaf = m.groups()
        if (part == "0") != (leaf == "weight"):
            return None
        return "conv_stem.weight" if part == "0" else f"bn1.{leaf}"
    m = re.match(r"^features\.(\d+)\.([0134])\.(\w+)$", name)
    positions = stage_positions(len(stage) for stage in MOBILENET_V1_STAGES)
    if not m or not 3 <= int(m.group(1)) < 3 + len(positions):
        return None
    s, j = positions[int(m.group(1)) - 3]
    part, leaf = m.group(2), m.group(3)
    if (part in "03") != (leaf == "weight"):
        return None
    target = {"0": "conv_dw", "1": "bn1", "3": "conv_pw", "4": "bn2"}[part]
    return f"blocks.{s}.{j}.{target}.{leaf}"


# MindCV trains with bilinear interpolation, crop 0.875 and ImageNet mean / std (configs/mobilenetv1/*.yaml).
_MINDCV = WeightSource(_mindcv_rename, preprocessing={"interpolation": "bilinear", "eval_resize": 256},
                       model_kwargs={"act": "relu"})
_CFG = DefaultCfg(weights=("MindSpore model zoo: mobilenetv1 (1001 classes)",))
_SOURCES = {
    "timm": WeightSource(torch_bn_rename, names=("mobilenetv1_100",),
                         preprocessing={"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic",
                                        "eval_resize": 236}),
    "modelzoo": WeightSource(_zoo_rename, names=("mobilenet_v1", "mobilenetv1")),
    "mindcv": _MINDCV,
}


@register_model(default_cfg=_CFG, sources={"mindcv": _MINDCV})
def mobilenet_v1_025(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.25, **kwargs)


@register_model(default_cfg=_CFG, sources={"mindcv": _MINDCV})
def mobilenet_v1_050(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.5, **kwargs)


@register_model(default_cfg=_CFG, sources={"mindcv": _MINDCV})
def mobilenet_v1_075(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=0.75, **kwargs)


@register_model(default_cfg=DefaultCfg(weights=("timm: mobilenetv1_100.ra4_e3600_r224_in1k",
                                              "MindSpore model zoo: mobilenetv1 (1001 classes)")), sources=_SOURCES)
def mobilenet_v1_100(num_classes: int = 1000, **kwargs) -> MobileNetV1:
    return MobileNetV1(num_classes, width=1.0, **kwargs)

"""GhostNet (Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020, arXiv 1911.11907), and the
model zoo's GhostNet600 built by the same class from its own block table.

One `GhostNet` class takes a block table, an activation, a width and the channel rules:
- GhostNet 0.5 / 1.0 / 1.3 and no-SE ("nose"): the official table of 16 bottlenecks in 9 stages; expansion widths
  are absolute (`make_divisible(exp * width, 4)`), squeeze-excite `make_divisible(mid * 0.25, 4)` where the table
  says so, ReLU, a 1280-wide conv head. Structure and parameter names follow the official PyTorch code (and
  timm's `ghostnet_100`), so those weights map one to one: `conv_stem`, `bn1`, `blocks.{stage}.{j}.*`,
  `blocks.9.0.conv` / `blocks.9.0.bn1`, `conv_head`, `classifier`.
- GhostNet600 (`ghostnet600.py` of the model zoo's research/cv/ghostnet): width 1.75, h-swish in the stem, the
  Ghost modules and the head, expansion widths relative to each block's input (`make_divisible(in * ratio, 8)`),
  squeeze-excite with reduction 10 (`make_divisible(mid / 10, 8)`) on every block, a 1400-wide head, and the
  blocks in one flat list (`blocks.0` .. `blocks.18`, the final conv `blocks.19`) as the model zoo names them.
  No PyTorch weights exist for it.

The later members of the family are this class too, with other bottleneck arguments: GhostNetV2 (ghostnetv2.py:
DFC attention), GhostNetV3 (ghostnetv3.py: re-parameterisable branches) and RepGhost (repghost.py: its own table
and module).

Checkpoint filters: timm / official names (BatchNorm renames only) for ghostnet_050 / 100 / 130, MindCV's names
(ours except the final ConvBnAct, `blocks.9.features.{0,1}`) for the same three, and the model zoo's flat
`ConvUnit` names for ghostnet_100, ghostnet_nose_100 and ghostnet_600m.

Feature levels (`features_only`, features.py): the stem after its activation, then every stride-2 stage, as timm's
(whose stem level is the raw convolution; docs/backbones.md).
"""
import re
from typing import Callable, Mapping, Optional, Sequence, Tuple

from mindspore import nn

from .convert import apply_rules, stage_positions, torch_bn_rename
from .features import Level
from .ghost import GhostBottleneck
from .layers import (ClassifierMixin, ConvBnAct, batch_norm, conv2d, create_act, init_weights, make_divisible,
                     norm_act)
from .registry import DefaultCfg, WeightSource, register_model
from .reparam import reparameterize

# One inner list per stage (the official grouping: 16 bottlenecks in 9 stages).
# k, exp (absolute, scaled by the width), out, se_ratio, stride
GHOSTNET_CFGS = [
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
# One block per row, not grouped in stages (the model zoo's flat layout).
# k, exp (ratio of the block's input width), out, se_ratio, stride
GHOSTNET600_CFGS = [
    (3, 1, 16, 0.1, 1),
    (3, 3, 24, 0.1, 2), (3, 3, 24, 0.1, 1),
    (5, 3, 40, 0.1, 2), (3, 3, 40, 0.1, 1), (3, 3, 40, 0.1, 1),
    (3, 6, 80, 0.1, 2), (3, 2.5, 80, 0.1, 1), (3, 2.5, 80, 0.1, 1), (3, 2.5, 80, 0.1, 1),
    (3, 6, 112, 0.1, 1), (3, 6, 112, 0.1, 1), (3, 6, 112, 0.1, 1),
    (5, 6, 160, 0.1, 2), (3, 6, 160, 0.1, 1), (3, 6, 160, 0.1, 1), (3, 6, 160, 0.1, 1), (3, 6, 160, 0.1, 1),
    (3, 6, 160, 0.1, 1),
]
FEATURE_CHANNELS = 960  # the last 1x1 conv before the head, scaled by the width
FEATURE_STEM = ("conv_stem", "bn1", "act1")  # what forward_features runs before `blocks`


class GhostNet(ClassifierMixin, nn.Cell):
    """GhostNet from a block table.

    cfgs: a list of stages (lists of rows) for the grouped layout, or a flat list of rows; a row is
    (kernel, exp, out, se_ratio, stride). width scales out, exp (when absolute) and the stem. relative_exp: exp is a
    ratio of the block's input width (GhostNet600) instead of an absolute width. divisor rounds the expansion and SE
    widths (`make_divisible`). use_se=False drops every squeeze-excite (the "nose" variant). act: the activation of
    the stem, the Ghost modules and the head. head_channels: the conv head's width (not scaled).

    The later members of the family are the same network with other bottleneck arguments (see GhostBottleneck):
    module: the Ghost module (GhostNetV3's and RepGhost's are re-parameterisable); attention_from: the first block
    (counted over all stages from 0) whose ghost1 has DFC attention (GhostNetV2 / V3: 2), None for none;
    dw_branches: GhostNetV3's parallel branches of the stride-2 depthwise convs (0: one conv + BN).
    """

    conv_bn_pairs = (("conv_stem", "bn1"),)
    conv_act_pairs = (("conv_stem", "act1"),)  # after folding, the stem's ReLU joins its bias (kernels.fusion)

    def __init__(self, cfgs: Sequence, num_classes: int = 1000, width: float = 1.0, drop_rate: float = 0.2,
                 in_channels: int = 3, use_se: bool = True, relative_exp: bool = False, divisor: int = 4,
                 act: str = "relu", head_channels: int = 1280, module: Optional[Callable[..., nn.Cell]] = None,
                 attention_from: Optional[int] = None, dw_branches: int = 0):
        super().__init__()
        stem_channels = make_divisible(16 * width, 4)
        self.conv_stem = conv2d(in_channels, stem_channels, 3, stride=2)
        self.bn1 = batch_norm(stem_channels)
        self.act1 = create_act(act)

        flat = not isinstance(cfgs[0], list)
        channels = stem_channels
        stages = []
        index = 0
        levels = [Level("act1", stem_channels, 2)]  # feature levels: the stem, then every stride-2 stage (timm's)
        for stage in ([[row] for row in cfgs] if flat else cfgs):
            blocks = []
            for k, exp, out, se_ratio, stride in stage:
                mid = make_divisible((channels if relative_exp else width) * exp, divisor)
                out_channels = make_divisible(out * width, 4)
                se_channels = make_divisible(mid * se_ratio, divisor) if use_se and se_ratio > 0 else 0
                attention = attention_from is not None and index >= attention_from
                blocks.append(GhostBottleneck(channels, mid, out_channels, k, stride, se_channels, act=act,
                                              module=module, attention=attention, dw_branches=dw_branches))
                channels = out_channels
                index += 1
            stages.extend(blocks if flat else [nn.SequentialCell(blocks)])
            if max(row[4] for row in stage) > 1:
                levels.append(Level(f"blocks.{len(stages) - 1}", channels, levels[-1].reduction * 2))
        feature_channels = make_divisible(FEATURE_CHANNELS * width, 4)
        final = ConvBnAct(channels, feature_channels, 1, act=act)
        stages.append(final if flat else nn.SequentialCell([final]))
        self.blocks = nn.SequentialCell(stages)
        self.feature_steps = FEATURE_STEM + tuple(f"blocks.{i}" for i in range(len(stages)))
        self.feature_levels = tuple(levels)
        self.init_classifier(feature_channels, num_classes, drop_rate, head_channels=head_channels, head_act=act)
        init_weights(self)

    def forward_features(self, x):
        return self.blocks(norm_act(self.bn1, self.act1, self.conv_stem(x)))

    def reparameterize(self) -> int:
        """Fold the training-time branches into single convolutions, in place (src/models/reparam.py); returns
        how many modules changed (0 for the members without such branches)."""
        return reparameterize(self)


# --- checkpoint filters -----------------------------------------------------------------------------------------
# Inside a model-zoo GhostBottleneck (research/cv/ghostnet/src/ghostnet.py and ghostnet600.py): every conv + BN is
# a ConvUnit with children `conv` / `bn`; ours are SequentialCells (`0` / `1`) or named `conv_dw` / `bn_dw`.
_ZOO_BLOCK_RULES = [
    (re.compile(r"^(ghost[12]\.(?:primary_conv|cheap_operation))\.conv\.weight$"), r"\1.0.weight"),
    (re.compile(r"^(ghost[12]\.(?:primary_conv|cheap_operation))\.bn\.(\w+)$"), r"\1.1.\2"),
    (re.compile(r"^dw\.conv\.weight$"), r"conv_dw.weight"),
    (re.compile(r"^dw\.bn\.(\w+)$"), r"bn_dw.\1"),
    (re.compile(r"^se\.(conv_reduce|conv_expand)\.(weight|bias)$"), r"se.\1.\2"),
    (re.compile(r"^shortcut\.0\.conv\.weight$"), r"shortcut.0.weight"),
    (re.compile(r"^shortcut\.0\.bn\.(\w+)$"), r"shortcut.1.\1"),
    (re.compile(r"^shortcut\.1\.conv\.weight$"), r"shortcut.2.weight"),
    (re.compile(r"^shortcut\.1\.bn\.(\w+)$"), r"shortcut.3.\1"),
]
_SAME_NAME = re.compile(r"^(conv_stem\.weight|bn1\.\w+|conv_head\.(weight|bias)|classifier\.(weight|bias))$")
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")


def _zoo_positions(flat: bool) -> Tuple[Tuple[str, ...], str]:
    """(our block path for each of the zoo's flat bottleneck indices, our path of the final ConvBnAct)."""
    if flat:
        return tuple(str(i) for i in range(len(GHOSTNET600_CFGS))), str(len(GHOSTNET600_CFGS))
    positions = tuple(f"{s}.{j}" for s, j in stage_positions(len(stage) for stage in GHOSTNET_CFGS))
    return positions, f"{len(GHOSTNET_CFGS)}.0"


def _zoo_renamer(flat: bool):
    """The model zoo's flat `blocks.0..B-1` bottlenecks and `blocks.B` final ConvUnit (`conv` / `bn`) onto ours:
    grouped in 9 stages (GhostNet 1x / nose) or flat as well (600M)."""
    positions, final = _zoo_positions(flat)

    def rename(name: str, state: Mapping) -> Optional[str]:
        if _SAME_NAME.match(name):
            return name
        m = _BLOCK.match(name)
        if not m:
            return None
        index, rest = int(m.group(1)), m.group(2)
        if index < len(positions):
            inner = apply_rules(_ZOO_BLOCK_RULES, rest)
            return None if inner is None else f"blocks.{positions[index]}.{inner}"
        if index == len(positions):
            if rest == "conv.weight":
                return f"blocks.{final}.conv.weight"
            if rest.startswith("bn.") and "." not in rest[3:]:
                return f"blocks.{final}.bn1.{rest[3:]}"
        return None
    return rename


_MINDCV_FINAL = re.compile(r"^blocks\.9\.features\.([01])\.(\w+)$")


def _mindcv_rename(name: str, state: Mapping) -> Optional[str]:
    """MindCV's ghostnet.py: our names, except that its final ConvBnAct keeps its SequentialCell `features`
    (conv 0, BN 1) where ours names them `conv` / `bn1`."""
    m = _MINDCV_FINAL.match(name)
    if not m:
        return name
    return f"blocks.9.0.conv.{m.group(2)}" if m.group(1) == "0" else f"blocks.9.0.bn1.{m.group(2)}"


# MindCV trains GhostNet with bilinear interpolation, crop 0.875 and ImageNet mean / std (configs/ghostnet/*.yaml).
_MINDCV = WeightSource(_mindcv_rename, preprocessing={"interpolation": "bilinear", "eval_resize": 256})


# --- registered networks ----------------------------------------------------------------------------------------
def _cfg(*weights: str) -> DefaultCfg:
    return DefaultCfg(weights=weights)


def timm_cfg(*weights: str) -> DefaultCfg:
    """timm's pretrained cfg of GhostNetV2 / V3 and RepGhost: 224 crop, crop_pct 0.875 (resize 256), bicubic,
    ImageNet mean and std."""
    return DefaultCfg(input_size=224, eval_resize=256, interpolation="bicubic", weights=weights)


_TIMM = WeightSource(torch_bn_rename)


@register_model(default_cfg=_cfg("timm / official: ghostnet_050 (untrained in timm)", "MindCV: ghostnet_050"),
                sources={"timm": _TIMM, "mindcv": _MINDCV})
def ghostnet_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=0.5, **kwargs)


@register_model(default_cfg=_cfg("timm: ghostnet_100.in1k (the official ghostnet_1x.pth)",
                                 "MindSpore model zoo: ghostnet_1x", "MindCV: ghostnet_100"),
                sources={"timm": _TIMM, "mindcv": _MINDCV,
                         "modelzoo": WeightSource(_zoo_renamer(flat=False), names=("ghostnet_1x",))})
def ghostnet_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=1.0, **kwargs)


@register_model(default_cfg=_cfg("timm / official: ghostnet_130 (untrained in timm)", "MindCV: ghostnet_130"),
                sources={"timm": _TIMM, "mindcv": _MINDCV})
def ghostnet_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=1.3, **kwargs)


@register_model(default_cfg=_cfg())
def ghostnet_nose_050(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=0.5, use_se=False, **kwargs)


@register_model(default_cfg=_cfg("MindSpore model zoo: ghostnet_nose_1x"),
                sources={"modelzoo": WeightSource(_zoo_renamer(flat=False), names=("ghostnet_nose_1x",))})
def ghostnet_nose_100(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=1.0, use_se=False, **kwargs)


@register_model(default_cfg=_cfg())
def ghostnet_nose_130(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET_CFGS, num_classes, width=1.3, use_se=False, **kwargs)


@register_model(default_cfg=_cfg("MindSpore model zoo: ghostnet600M"),
                sources={"modelzoo": WeightSource(_zoo_renamer(flat=True), names=("ghostnet600", "ghostnet600m"))})
def ghostnet_600m(num_classes: int = 1000, **kwargs) -> GhostNet:
    return GhostNet(GHOSTNET600_CFGS, num_classes, width=1.75, relative_exp=True, divisor=8, act="hard_swish",
                    head_channels=1400, **kwargs)

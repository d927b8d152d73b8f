"""Backbones: the multi-scale feature maps of every network (timm's `features_only`), output strides by dilation,
and freezing the first stages for fine-tuning.

A network declares, in its own file, how it runs and where its levels are:
- `feature_steps`: the cells its `forward_features` runs, in order, by name: a child (`conv_stem`) or an element
  of a SequentialCell child (`blocks.3`);
- `feature_levels`: a `Level` per feature level (the step whose output it is, its channels, its reduction at
  output stride 32), level 0 being the stem.
`FeatureNet` runs those steps up to the last chosen level and returns the maps of the chosen levels as a tuple; its
parameters keep the network's names, so a classification checkpoint loads into it (the head's entries unused).
`set_output_stride` turns the strides beyond an output stride into dilations; `freeze_stages` stops gradients and
BN statistics in the stem and the first stages.
"""
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import mindspore as ms
import numpy as np
from mindspore import nn, ops

from .reparam import _invalidate_compiled_graphs, _rename_parameters, reparameterize
from .utils import freeze_batch_norm

OUTPUT_STRIDES = (8, 16, 32)
PROBE_SIZE = 64  # input side of the shape probe that finds each convolution's resolution (32 -> 2x2 maps)


@dataclass(frozen=True)
class Level:
    """One feature level: the step whose output it is, its channels, its reduction (input side / map side)."""
    module: str
    channels: int
    reduction: int


class FeatureInfo:
    """What a features-only network returns, per output: channels, reduction and module name (timm's FeatureInfo)."""

    def __init__(self, levels: Sequence[Level], out_indices: Sequence[int]):
        self.levels = tuple(levels[i] for i in out_indices)
        self.out_indices = tuple(out_indices)

    def channels(self) -> List[int]:
        return [level.channels for level in self.levels]

    def reductions(self) -> List[int]:
        return [level.reduction for level in self.levels]

    def module_names(self) -> List[str]:
        return [level.module for level in self.levels]

    def get_dicts(self) -> List[Dict]:
        return [{"num_chs": lv.channels, "reduction": lv.reduction, "module": lv.module, "index": i}
                for i, lv in zip(self.out_indices, self.levels)]

    def __len__(self) -> int:
        return len(self.levels)

    def __repr__(self) -> str:
        return f"FeatureInfo({self.get_dicts()})"


def _name(net) -> str:
    return getattr(net, "model_name", type(net).__name__)


def _levels(net) -> Tuple[Level, ...]:
    levels = getattr(net, "feature_levels", None)
    if not levels:
        raise ValueError(f"{_name(net)} declares no feature levels (feature_steps / feature_levels)")
    return tuple(levels)


def check_out_indices(net, out_indices: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """`out_indices` as a tuple of level numbers (None: every level); ValueError listing the levels otherwise."""
    levels = _levels(net)
    if out_indices is None:
        return tuple(range(len(levels)))
    indices = tuple(out_indices) if isinstance(out_indices, (list, tuple)) else (out_indices,)
    known = ", ".join(f"{i}: {lv.module} ({lv.channels} channels, 1/{lv.reduction})" for i, lv in enumerate(levels))
    bad = [i for i in indices if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(levels)]
    if bad or not indices or len(set(indices)) != len(indices) or list(indices) != sorted(indices):
        raise ValueError(f"out_indices {list(indices)} of {_name(net)}: expected distinct increasing levels "
                         f"from {len(levels)} levels ({known})")
    return indices


def _cell(net: nn.Cell, step: str) -> nn.Cell:
    name, _, index = step.partition(".")
    cell = getattr(net, name)
    return cell[int(index)] if index else cell


class FeatureNet(nn.Cell):
    """The feature maps of `net` at the levels `out_indices` (default: all), as a tuple, with `feature_info`.

    Holds `net`'s cells under their own names, up to the last chosen level (the rest, head included, is left out).
    """

    def __init__(self, net: nn.Cell, out_indices: Optional[Sequence[int]] = None):
        super().__init__()
        indices = check_out_indices(net, out_indices)
        stride = getattr(net, "output_stride", 32)
        levels = tuple(Level(lv.module, lv.channels, min(lv.reduction, stride)) for lv in _levels(net))
        steps = tuple(net.feature_steps)
        last = steps.index(levels[indices[-1]].module)
        self.feature_steps = steps[:last + 1]
        self.feature_levels = levels[:indices[-1] + 1]
        self.feature_info = FeatureInfo(levels, indices)
        self.output_stride = stride
        self.model_name = _name(net)
        kept: Dict[str, List[int]] = {}
        for step in self.feature_steps:
            name, _, index = step.partition(".")
            kept.setdefault(name, []).extend([int(index)] if index else [])
        for name, positions in kept.items():
            cell = getattr(net, name)
            if positions and positions != list(range(len(cell))):
                cell = nn.SequentialCell([cell[i] for i in positions])
            setattr(self, name, cell)
        self.steps = tuple((s.partition(".")[0], int(s.partition(".")[2] or -1)) for s in self.feature_steps)
        self.keep = tuple(self.feature_steps.index(levels[i].module) for i in indices)
        self.last = last
        _rename_parameters(self)

    def construct(self, x):
        outputs = ()
        for i, (name, index) in enumerate(self.steps):
            cell = getattr(self, name)
            if index >= 0:
                cell = cell[index]
            x = cell(x)
            if i in self.keep:
                # A map that later steps read leaves as a product with 1: MindSpore's ONNX exporter renames a
                # tensor that is both a graph output and a node input, and the reading node's input dangles.
                outputs = outputs + ((x * 1.0 if i < self.last else x),)
        return outputs

    def reparameterize(self) -> int:
        """Fold re-parameterisable branches (GhostNetV3, RepGhost) into single convolutions, in place."""
        return reparameterize(self)


def warn_head_options(**given) -> None:
    """One warning naming the head-only options a features-only network ignores (those not None)."""
    ignored = [f"{key}={value!r}" for key, value in given.items() if value is not None]
    if ignored:
        warnings.warn(f"features_only=True: the network has no classifier, so {', '.join(ignored)} is ignored",
                      UserWarning, stacklevel=3)


# --- output stride --------------------------------------------------------------------------------------------
def _conv_input_sides(net: nn.Cell, convs) -> List[int]:
    """The input height of every conv in `convs` on a PROBE_SIZE x PROBE_SIZE image (PyNative forward hooks)."""
    sides = {}

    def record(name):
        def hook(cell, inputs):
            sides[name] = int(inputs[0].shape[2])
        return hook

    handles = [cell.register_forward_pre_hook(record(name)) for name, cell in convs]
    mode, training = ms.get_context("mode"), net.training
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(False)
    try:
        net(ms.Tensor(np.zeros((1, 3, PROBE_SIZE, PROBE_SIZE), np.float32)))
    finally:
        for handle in handles:
            handle.remove()
        ms.set_context(mode=mode)
        net.set_train(training)
    return [sides[name] for name, _ in convs]


def _set_geometry(conv: nn.Conv2d, stride: int, dilation: int) -> None:
    """Give `conv` a new stride and dilation in place (its weights untouched), padding scaled with the dilation."""
    kh, kw = conv.kernel_size
    if conv.pad_mode == "pad":
        if kh != kw:
            raise ValueError(f"cannot dilate a padded {kh}x{kw} convolution")
        conv.padding = dilation * (kh // 2)
    elif conv.pad_mode == "valid" and max(kh, kw) > 1 and dilation > 1:
        raise ValueError(f"cannot dilate a {kh}x{kw} convolution without padding")
    conv.stride, conv.dilation = (stride, stride), (dilation, dilation)
    conv.conv2d = ops.Conv2D(out_channel=conv.out_channels, kernel_size=conv.kernel_size, mode=1,
                             pad_mode=conv.pad_mode, pad=conv.padding, stride=conv.stride, dilation=conv.dilation,
                             group=conv.group, data_format=conv.data_format)
    if hasattr(conv, "refresh_kernel"):  # our depthwise kernel carries the geometry too
        conv.refresh_kernel()


def set_output_stride(net: nn.Cell, output_stride: int) -> nn.Cell:
    """Make `net`'s last maps 1/`output_stride` of the input (8, 16 or 32), in place, before its first run.

    Every convolution that would reduce beyond `output_stride` gets stride 1, and every convolution after it is
    dilated by how much larger its input now is than it was (DeepLab's atrous backbone): the receptive fields stay
    those of the strided network and the parameters are the same. Found by a shape probe (two PyNative forward
    passes of a PROBE_SIZE image), so every family is handled alike, parallel branches included.
    """
    if isinstance(output_stride, bool) or not isinstance(output_stride, int) or output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {', '.join(map(str, OUTPUT_STRIDES))}, got {output_stride!r}")
    reason = getattr(net, "fixed_stride_reason", None)
    if output_stride != 32 and reason:
        raise ValueError(f"{_name(net)} gives output_stride 32 only ({reason}); got output_stride {output_stride}")
    net.output_stride = output_stride
    if output_stride == 32:
        return net
    convs = [(name, cell) for name, cell in net.cells_and_names() if isinstance(cell, nn.Conv2d)]
    before = _conv_input_sides(net, convs)
    for (_, conv), side in zip(convs, before):
        if conv.stride[0] > 1 and PROBE_SIZE // side * conv.stride[0] > output_stride:
            _set_geometry(conv, 1, 1)
    after = _conv_input_sides(net, convs)
    for (name, conv), old, new in zip(convs, before, after):
        if new % old:
            raise ValueError(f"{_name(net)}: cannot dilate {name} ({old} -> {new} rows)")
        if new > old and max(conv.kernel_size) > 1:
            _set_geometry(conv, conv.stride[0], new // old)
    _invalidate_compiled_graphs(net)
    return net


# --- freezing -------------------------------------------------------------------------------------------------
def freeze_stages(net: nn.Cell, num_stages: int) -> List[str]:
    """Stop gradients and BN statistic updates in the stem (level 0) and the first `num_stages` stages (the steps
    up to level `num_stages`), in place; returns the names of the frozen parameters. Each is marked `frozen_stage`
    (the trainer's phases leave those frozen). Call it before building the optimizer."""
    levels = _levels(net)
    if isinstance(num_stages, bool) or not isinstance(num_stages, int) or not 0 <= num_stages < len(levels):
        raise ValueError(f"freeze_stages {num_stages!r}: {_name(net)} has the stem (0) and stages 1..{len(levels) - 1}"
                         f" ({', '.join(lv.module for lv in levels)})")
    steps = tuple(net.feature_steps)
    frozen = []
    for step in steps[:steps.index(levels[num_stages].module) + 1]:
        cell = _cell(net, step)
        freeze_batch_norm(cell)
        for param in cell.get_parameters():
            param.requires_grad = False
            param.frozen_stage = True
            frozen.append(param.name)
    return frozen


def features_model(net: nn.Cell, features_only: bool, out_indices: Optional[Sequence[int]], output_stride: int):
    """`net` with `output_stride` applied, and as a FeatureNet when `features_only` (create_model's last step)."""
    if out_indices is not None and not features_only:
        raise ValueError("out_indices needs features_only=True")
    set_output_stride(net, output_stride)
    if not features_only:
        return net
    features = FeatureNet(net, out_indices)
    features.default_cfg = getattr(net, "default_cfg", None)
    return features

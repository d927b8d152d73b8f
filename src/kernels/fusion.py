"""Hand the ReLU / ReLU6 that follows a convolution of an inference network to the conv, which then runs bias +
activation in one kernel of ours: a depthwise conv's own forward kernel (`DepthwiseConv2d.fuse_activation`), after
MindSpore's convolution for the others (`pointwise.Conv2d.fuse_activation`); measurements in docs/kernels.md.

Which activation follows which conv: in a SequentialCell, the first cell after one of those convs past any
nn.Identity (the BatchNorms `fold_batchnorm` replaced); in other cells, the (conv, act) attribute pairs the cell
lists in `conv_act_pairs` (its construct computes act(conv(x)) for each, and uses conv(x) nowhere else; the conv
named by a dotted path such as "cheap_operation.0" where it sits in a SequentialCell, and only a conv itself
counts: a pair holds for the cell's current form, e.g. deployed, where the named cell is a conv). A taken
activation is replaced by nn.Identity in its cell. Where our kernel does not run (GHOSTZOO_KERNELS=0, another
device, exports) the conv applies the same activation cell itself: the function and the operators are unchanged.
"""
from typing import Callable, Iterator, Tuple

from mindspore import nn

from .depthwise import DepthwiseConv2d
from .pointwise import Conv2d

FUSIBLE = (DepthwiseConv2d, Conv2d)


def _single_conv(cell: nn.Cell) -> nn.Cell:
    """The conv of a SequentialCell that holds one fusible conv and then only nn.Identity (a conv + BN (+ act)
    after folding and fusing), else `cell` itself."""
    if (isinstance(cell, nn.SequentialCell) and len(cell) and isinstance(cell[0], FUSIBLE)
            and all(isinstance(c, nn.Identity) for c in list(cell)[1:])):
        return cell[0]
    return cell


def _child(cell: nn.Cell, path: str):
    """The cell at a dotted `path` of attribute names and SequentialCell indices ("cheap_operation.0"), or None."""
    for name in path.split("."):
        if not name.isdigit():
            cell = getattr(cell, name, None)
        elif isinstance(cell, nn.SequentialCell) and int(name) < len(cell):
            cell = cell[int(name)]
        else:
            return None
    return cell


def _conv_act_pairs(cell: nn.Cell) -> Iterator[Tuple[nn.Conv2d, nn.Cell, Callable]]:
    """(conv, act, replace_act) for every fusible conv + activation pair that `cell` itself holds."""
    if isinstance(cell, nn.SequentialCell):
        for i in range(len(cell) - 1):
            if not isinstance(cell[i], FUSIBLE):
                continue
            j = i + 1
            while j < len(cell) - 1 and isinstance(cell[j], nn.Identity):
                j += 1
            yield cell[i], cell[j], lambda new, j=j: cell.__setitem__(j, new)
    batchnorm_of = dict(getattr(cell, "conv_bn_pairs", ()))
    for conv_name, act_name in getattr(cell, "conv_act_pairs", ()):
        conv, act = _child(cell, conv_name), getattr(cell, act_name, None)
        between = getattr(cell, batchnorm_of.get(conv_name, ""), None)
        if between is not None and not isinstance(between, nn.Identity):
            continue  # its BatchNorm was not folded (fold_bn=False): the act follows bn(conv(x)), not conv(x)
        if isinstance(conv, FUSIBLE) and isinstance(act, nn.Cell):
            yield conv, act, lambda new, name=act_name: setattr(cell, name, new)


def fuse_activations(net: nn.Cell) -> int:
    """Give every conv of `net` that runs our kernel the ReLU / ReLU6 after it (module docstring), in place; how
    many were fused. For inference graphs: call it after `fold_batchnorm`, before the first run."""
    fused = 0
    for _, cell in list(net.cells_and_names()):
        for conv, act, replace in list(_conv_act_pairs(cell)):
            if conv.fuse_activation(act):
                replace(nn.Identity())
                fused += 1
    return fused


def fuse_ghost_joins(net: nn.Cell) -> int:
    """Let every Ghost module of `net` (a cell with `fused_join`, models.ghost.GhostJoin) whose cheap operation is
    one depthwise conv of ours with a bias that keeps the map's size, its activation taken over (`fuse_activations`
    first) and nothing else, write its output in one kernel: the concat of x1 and conv(x1) (DepthwiseJoinBias).
    Where the kernel does not run on an input (another shape, exports) the module concatenates as before. Returns
    how many modules were changed."""
    joined = 0
    for _, cell in list(net.cells_and_names()):
        if not hasattr(cell, "fused_join") or cell.trim:
            continue
        cheap = getattr(cell, "cheap_operation", None)
        conv = _single_conv(cheap) if cheap is not None else None
        if conv is cheap or not isinstance(conv, DepthwiseConv2d):
            continue
        if not (conv.use_kernel and conv.has_bias and conv.keeps_size):
            continue
        if not isinstance(getattr(cell, "cheap_activation", None) or nn.Identity(), nn.Identity):
            continue  # GhostNetV3's module applies its cheap activation outside cheap_operation
        cell.fused_join = True
        joined += 1
    return joined

"""Foreign checkpoints onto our networks: the shared pieces of the checkpoint filters, and the strict conversion.

Each model file registers, per source ("timm", "modelzoo"), a renamer that maps the source's parameter names onto
ours (see registry.WeightSource). `convert_state_dict` applies it and checks the result strictly: every source
tensor used exactly once, every parameter of our network (BatchNorm moving statistics included) filled with the
right shape, or a ValueError naming the unmatched tensors on both sides and the shape mismatches. It is used by
`python -m src.tools.convert_weights` and by training (`--pretrained_ckpt` with a model-zoo checkpoint).
"""
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .registry import create_model, find_source_model, get_default_cfg, weight_sources

BN_RENAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
# Optimizer and bookkeeping entries a training checkpoint holds besides the network.
TRAINING_STATE_PREFIXES = ("moments.", "mean_square.", "moment.", "mean_grad.", "accum.", "adam_m.", "adam_v.",
                           "learning_rate", "momentum",
                           "global_step", "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
                           "epoch_num", "step_num", "step_in_epoch", "top_1_accuracy", "ema_updates", "ghostzoo_record")


def torch_bn_rename(name: str, state: Mapping) -> Optional[str]:
    """PyTorch names that equal ours except BatchNorm's. A `weight` / `bias` belongs to a BatchNorm exactly when
    its module also has `running_mean` (PyTorch BN layers track running statistics by default)."""
    prefix, _, leaf = name.rpartition(".")
    if leaf in ("running_mean", "running_var"):
        return f"{prefix}.{BN_RENAMES[leaf]}"
    if leaf in ("weight", "bias") and f"{prefix}.running_mean" in state:
        return f"{prefix}.{BN_RENAMES[leaf]}"
    return name


def apply_rules(rules: Sequence[Tuple["re.Pattern", str]], name: str) -> Optional[str]:
    """The first (pattern, replacement) rule that matches `name`, applied; None when none does."""
    for pattern, replacement in rules:
        if pattern.match(name):
            return pattern.sub(replacement, name)
    return None


def stage_positions(stage_sizes: Iterable[int]) -> List[Tuple[int, int]]:
    """Flat block index -> (stage, position in the stage)."""
    return [(s, j) for s, size in enumerate(stage_sizes) for j in range(size)]


def format_names(names: Iterable[str], limit: int = 8) -> str:
    """Up to `limit` names joined by commas, and how many more there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# Counters that are not weights: PyTorch BN's, and those thop's profiler leaves in every module (the official
# GhostNetV3 checkpoint has them; timm's checkpoint filter drops them too).
BOOKKEEPING_SUFFIXES = ("num_batches_tracked", "total_ops", "total_params")


def drop_bookkeeping(state: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Without PyTorch's `num_batches_tracked`, thop's counters, and optimizer and training-state entries."""
    return {name: value for name, value in state.items()
            if not name.endswith(BOOKKEEPING_SUFFIXES) and not name.startswith(TRAINING_STATE_PREFIXES)}


def rename(source: str, model: str, state: Mapping[str, np.ndarray]
           ) -> Tuple[Dict[str, np.ndarray], Dict[str, str], List[str]]:
    """(renamed tensors, our name -> source name, source names that no rule knows or that collide)."""
    model = find_source_model(source, model)
    renamer = weight_sources(model)[source].renamer
    state = drop_bookkeeping(state)
    renamed, origin, unknown = {}, {}, []
    for name, value in state.items():
        target = renamer(name, state)
        if target is None:
            unknown.append(name)
        elif target in renamed:
            unknown.append(f"{name} (maps to {target}, already filled by {origin[target]})")
        else:
            renamed[target] = value
            origin[target] = name
    return renamed, origin, unknown


def head_size(renamed: Mapping[str, np.ndarray], classifier: str = "classifier") -> Optional[int]:
    """Class count of the source's classifier, if it has one of the expected rank."""
    weight = renamed.get(f"{classifier}.weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def check_complete(model: str, renamed: Mapping[str, np.ndarray], origin: Mapping[str, str], unknown: List[str],
                   expected: Mapping[str, Tuple[int, ...]]) -> None:
    """Raise ValueError listing unused source tensors, unfilled parameters and shape mismatches."""
    unused = list(unknown) + [f"{origin[k]} (as {k})" if origin[k] != k else k for k in renamed if k not in expected]
    missing = [k for k in expected if k not in renamed]
    mismatched = [f"{k} (source {origin[k]} {tuple(renamed[k].shape)}, ours {expected[k]})"
                  for k in expected if k in renamed and tuple(renamed[k].shape) != expected[k]]
    if not (unused or missing or mismatched):
        return
    lines = [f"the weights do not fit {model}:"]
    if unused:
        lines.append(f"  {len(unused)} source tensor(s) not used: {format_names(unused, 40)}")
    if missing:
        lines.append(f"  {len(missing)} parameter(s) of {model} not filled: {format_names(missing, 40)}")
    if mismatched:
        lines.append(f"  {len(mismatched)} shape mismatch(es): {format_names(mismatched, 40)}")
    raise ValueError("\n".join(lines))


def convert_state_dict(source: str, model: str, state: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Our parameters (in our network's order) from a source state_dict; ValueError on any mismatch.

    The target network is built with the source's head size, so the result loads into
    `create_model(model, num_classes=head_size)`.
    """
    name = find_source_model(source, model)
    renamed, origin, unknown = rename(source, name, state)
    num_classes = head_size(renamed, get_default_cfg(name).classifier) or get_default_cfg(name).num_classes
    net = create_model(name, num_classes=num_classes)
    expected = {k: tuple(p.shape) for k, p in net.parameters_dict().items()}
    check_complete(name, renamed, origin, unknown, expected)
    return {k: renamed[k] for k in expected}

"""Reading checkpoints and loading them into a network with clear errors on any mismatch."""
import os
from typing import Dict, Iterable, Tuple

import mindspore as ms

from .errors import CheckpointError

# Keys a training checkpoint holds besides the network: optimizer state, loss scale, bookkeeping.
TRAINING_STATE_PREFIXES = ("moments.", "accum.", "adam_m.", "adam_v.", "learning_rate", "momentum",
                           "global_step", "scale_sense", "current_iterator_step", "last_overflow_iterator_step",
                           "epoch_num", "step_num", "top_1_accuracy", "ema_updates")


def read_checkpoint(path: str) -> Dict[str, ms.Parameter]:
    """All entries of a MindSpore checkpoint file."""
    if not path:
        raise CheckpointError("no checkpoint given: pass --checkpoint_path FILE.ckpt")
    check_checkpoint_file(path)
    try:
        return ms.load_checkpoint(path)
    except Exception as e:  # MindSpore raises ValueError / RuntimeError for unreadable files
        raise CheckpointError(f"cannot read checkpoint '{path}': not a MindSpore checkpoint or damaged "
                              f"({str(e).splitlines()[0][:200]})") from None


def check_checkpoint_file(path: str, what: str = "checkpoint") -> None:
    """Raise a clear error unless `path` is an existing checkpoint file (a folder gets its own message)."""
    if os.path.isdir(path):
        inside = sorted(n for n in os.listdir(path) if n.endswith(".ckpt"))
        hint = f", e.g. '{os.path.join(path, inside[-1])}'" if inside else ""
        raise CheckpointError(f"{what} '{path}' is a folder, not a checkpoint file; pass a .ckpt file{hint}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} '{path}' does not exist")


def split_training_state(params: Dict[str, ms.Parameter]) -> Tuple[Dict, Dict]:
    """(network entries, optimizer and bookkeeping entries)."""
    net, state = {}, {}
    for name, value in params.items():
        (state if name.startswith(TRAINING_STATE_PREFIXES) else net)[name] = value
    return net, state


def format_names(names: Iterable[str], limit: int = 8) -> str:
    """Up to `limit` names joined by commas, and how many more there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_compatible(net: ms.nn.Cell, params: Dict[str, ms.Parameter], path: str, exclude: Tuple[str, ...] = ()):
    """Raise CheckpointError naming every missing, unexpected or mis-shaped parameter."""
    expected = {k: v for k, v in net.parameters_dict().items() if not k.startswith(exclude)}
    given = {k: v for k, v in params.items() if not k.startswith(exclude)}
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [f"{k} (checkpoint {tuple(given[k].shape)}, network {tuple(expected[k].shape)})"
                  for k in expected if k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or mismatched):
        return
    problems = []
    if len(missing) > len(expected) // 2:
        problems.append(f"it does not look like a checkpoint of this network ({len(missing)} of "
                        f"{len(expected)} parameters missing, e.g. {format_names(missing, 3)})")
    else:
        if missing:
            problems.append(f"missing: {format_names(missing)}")
        if unexpected:
            problems.append(f"unexpected: {format_names(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {format_names(mismatched)}")
        head = [k for k in expected if k in given and k.startswith("classifier.weight")
                and tuple(given[k].shape) != tuple(expected[k].shape)]
        if head:
            problems.append(f"the checkpoint's head has {given[head[0]].shape[0]} classes: pass --num_classes "
                            f"{given[head[0]].shape[0]}")
    raise CheckpointError(f"checkpoint '{path}' does not fit the network: " + "; ".join(problems))


def load_weights(net: ms.nn.Cell, path: str, exclude: Tuple[str, ...] = ()) -> Dict[str, ms.Parameter]:
    """Load the network weights of `path` into `net` after checking that every parameter fits.

    Returns the checkpoint's training-state entries (optimizer moments, global_step, epoch_num, ...).
    """
    net_params, state = split_training_state(read_checkpoint(path))
    check_compatible(net, net_params, path, exclude)
    if exclude:
        net_params = {k: v for k, v in net_params.items() if not k.startswith(exclude)}
    ms.load_param_into_net(net, net_params, strict_load=True)
    return state

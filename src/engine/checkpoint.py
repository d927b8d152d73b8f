"""Checkpoints in and out of a run: reading and loading with clear errors on any mismatch, starting from
pretrained weights (ours or the model zoo's, converted on the fly), resuming a run (weights, optimizer moments,
step, EMA, best so far), and finding a run's periodic checkpoints."""
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import mindspore as ms
from mindspore import nn

from ..errors import CheckpointError
from ..models import check_model_name, convert_state_dict, get_default_cfg, weight_sources
from ..models.convert import TRAINING_STATE_PREFIXES, format_names
from ..models.recognise import recognise
from ..runtime import LOG
from .optim import OPTIMIZER_STATE_PREFIXES
from .record import ModelRecord, record_of

_CRC_TRAILER = 17  # MindSpore's CRC trailer: b"crc_num" and the CRC32 as 10 big-endian bytes


def read_checkpoint(path: str) -> Dict[str, ms.Parameter]:
    """All entries of a MindSpore checkpoint file. One written with a CRC (every one this project writes) is
    checked against it, so a damaged file is refused by name; older files without one load unchecked."""
    if not path:
        raise CheckpointError("no checkpoint given: pass --checkpoint_path FILE.ckpt")
    check_checkpoint_file(path)
    with_crc = has_crc(path)
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # MindSpore logs its own ERROR line for an unreadable file; ours says more
    try:
        return ms.load_checkpoint(path, crc_check=with_crc)
    except Exception as e:  # MindSpore raises ValueError / RuntimeError for unreadable files
        if with_crc and "crc check" in str(e.__cause__ or e).lower():
            raise CheckpointError(f"checkpoint '{path}' is damaged: its content does not match the CRC written "
                                  f"with it (changed after it was written, e.g. by a failed copy or disk); use an "
                                  f"intact copy or another checkpoint") from None
        raise CheckpointError(f"cannot read checkpoint '{path}': not a MindSpore checkpoint or damaged "
                              f"({str(e).splitlines()[0][:200]})") from None
    finally:
        logging.disable(previous)


def has_crc(path: str) -> bool:
    """Whether the checkpoint file ends with the CRC that `save_checkpoint(..., crc_check=True)` appends."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < _CRC_TRAILER:
                return False
            f.seek(-_CRC_TRAILER, os.SEEK_END)
            return f.read(7) == b"crc_num"
    except OSError:
        return False


def check_checkpoint_file(path: str, what: str = "checkpoint") -> None:
    """Raise a clear error unless `path` is an existing checkpoint file (a folder gets its own message)."""
    if os.path.isdir(path):
        inside = sorted(n for n in os.listdir(path) if n.endswith(".ckpt"))
        hint = f", e.g. '{os.path.join(path, inside[-1])}'" if inside else ""
        raise CheckpointError(f"{what} '{path}' is a folder, not a checkpoint file; pass a .ckpt file{hint}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} '{path}' does not exist")


@dataclass
class OpenedCheckpoint:
    """A checkpoint with what it holds: the model (recorded, given, or recognised), its class count, its record."""
    path: str
    model: str
    num_classes: int
    params: Dict[str, ms.Parameter]          # the network's entries, under our parameter names
    record: Optional[ModelRecord]
    how: str                                 # how the model was found (for the log)
    source: Optional[str] = None             # the foreign source whose names the file had (None: ours)
    model_kwargs: Dict = field(default_factory=dict)  # builder arguments the weights need (create_model(**...))


def open_checkpoint(path: str, model: Optional[str] = None, num_classes: Optional[int] = None) -> OpenedCheckpoint:
    """Read `path` and find its model: from its record (a contradicting `model` is an error), the given `model`,
    or, for a checkpoint without a record, by its parameter names and shapes (see models/recognise.py). The class
    count is `num_classes` when given, else the checkpoint's classifier rows."""
    params, state = split_training_state(read_checkpoint(path))
    record = record_of(state, f"'{path}'")
    model_kwargs = dict(record.model_kwargs) if record is not None else {}
    if model is not None:
        check_model_name(model)
    if record is not None:
        if model is not None and model != record.model:
            raise CheckpointError(f"--model {model} contradicts the checkpoint '{path}', which holds a "
                                  f"{record.model} (recorded in it): leave out --model, or pass a checkpoint of "
                                  f"{model}")
        model, how = record.model, "recorded in the checkpoint"
    elif model is not None:
        how = "given"
    source = None
    if record is None and model is None:
        matches, near = recognise(params)
        if len({m.model for m in matches}) > 1:
            raise CheckpointError(f"checkpoint '{path}' has no model record and its parameters fit several models "
                                  f"({', '.join(m.model for m in matches)}); pass --model NAME")
        if not matches:
            closest = "; ".join(f"{m}: {what}" for m, what in near)
            raise CheckpointError(f"checkpoint '{path}' has no model record and matches no registered model by its "
                                  f"parameter names and shapes; the closest: {closest}")
        match = matches[0]
        model, source = match.model, match.source
        how = f"recognised by its parameter names and shapes ({match.describe()})"
        if source is not None:
            params = _from_source(source, model, params, path)
            model_kwargs = dict(weight_sources(model)[source].model_kwargs or {})
    classifier = get_default_cfg(model).classifier
    if num_classes is None:
        head = params.get(f"{classifier}.weight")
        num_classes = int(head.shape[0]) if head is not None else (record.num_classes if record else
                                                                    get_default_cfg(model).num_classes)
    return OpenedCheckpoint(path, model, num_classes, params, record, how, source, model_kwargs)


def load_opened(net: nn.Cell, opened: OpenedCheckpoint) -> None:
    """Load an opened checkpoint's weights into `net` after checking that every parameter fits."""
    check_compatible(net, opened.params, opened.path)
    ms.load_param_into_net(net, opened.params, strict_load=True)


def split_training_state(params: Dict[str, ms.Parameter]) -> Tuple[Dict, Dict]:
    """(network entries, optimizer and bookkeeping entries)."""
    net, state = {}, {}
    for name, value in params.items():
        (state if name.startswith(TRAINING_STATE_PREFIXES) else net)[name] = value
    return net, state


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
        weight = classifier_prefix(net) + "weight" if hasattr(net, "get_classifier") else "classifier.weight"
        head = [k for k in expected if k == weight and k in given and tuple(given[k].shape) != tuple(expected[k].shape)]
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


def read_training_state(path: str, net: nn.Cell) -> Dict:
    """Load the weights of a training checkpoint into `net`; return its optimizer and bookkeeping entries."""
    state = load_weights(net, path)
    if "epoch_num" not in state or "global_step" not in state:
        raise CheckpointError(f"'{path}' holds no training state (epoch_num, global_step); resume needs a "
                              f"checkpoint written by train.py, use --pretrained_ckpt to start from weights only")
    return state


def check_resume_fits(state: Dict, path: str, batch_size: int, total_steps: int) -> None:
    """Refuse a resume whose batch size differs from the checkpoint's recorded one, or whose saved step lies past
    this run's lr schedule (the optimizer would index past its lr array), before anything is compiled."""
    record = record_of(state, f"'{path}'")
    recorded = (record.config or {}).get("batch_size") if record is not None else None
    if recorded is not None and int(recorded) != batch_size:
        raise CheckpointError(f"--resume '{path}' was trained with batch_size {recorded}, this run has "
                              f"{batch_size}; a resumed run continues the same steps, lr schedule and data order, so "
                              f"resume with --batch_size {recorded}, or start anew from its weights with "
                              f"--pretrained_ckpt")
    step = int(state["global_step"].asnumpy().reshape(-1)[0])
    if step >= total_steps:
        raise CheckpointError(f"--resume '{path}' is at global step {step}, but this run's lr schedule has "
                              f"{total_steps} steps (epoch_size x steps per epoch); raise --epoch_size, or check "
                              f"that the batch size, device count and data are those of the checkpoint's run")


def restore_optimizer(state: Dict, optimizer: nn.Optimizer, path: str) -> None:
    """Set the optimizer's moments and step counter from a training checkpoint's entries.

    The lr array is rebuilt from the config, so a longer run (a larger epoch_size) continues on its own schedule
    at the saved step. Entries are set one by one: load_param_into_net on an optimizer also matched `moments.X`
    to the network weight `X` and overwrote it.
    """
    targets = [p for p in optimizer.get_parameters() if p.name.startswith(OPTIMIZER_STATE_PREFIXES)]
    targets.append(optimizer.global_step)
    missing = [p.name for p in targets if p.name not in state]
    if missing:
        raise CheckpointError(f"'{path}' lacks optimizer state {missing[:3]}: was it written with another "
                              f"optimizer or another set of trainable parameters (freeze_epochs)?")
    for param in targets:
        value = state[param.name]
        if tuple(value.shape) != tuple(param.shape):
            raise CheckpointError(f"'{path}': optimizer state {param.name} has shape {tuple(value.shape)}, "
                                  f"expected {tuple(param.shape)}")
        param.set_data(ms.Tensor(value.asnumpy(), param.dtype))


def _from_source(source: str, model: str, params: Dict, path: str) -> Dict:
    """A `source`'s parameter names of `model` (the model zoo's, MindCV's) converted to ours, or a CheckpointError."""
    try:
        converted = convert_state_dict(source, model, {k: v.asnumpy() for k, v in params.items()})
    except ValueError as e:
        raise CheckpointError(f"'{path}' is neither a checkpoint of {model} nor a {source} one it converts from: "
                              f"{str(e)[:300]}") from None
    LOG.info(f"'{path}' has the {source} parameter names: converted to ours")
    return {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in converted.items()}


def init_from_checkpoint(net: nn.Cell, path: str, model: str) -> OpenedCheckpoint:
    """Start `net` (a `model`) from the weights of `path`: ours (with a record, or recognised by its parameter
    names) or the model zoo's (names converted on the fly). A checkpoint of another model is an error naming it.

    When its classifier has another class count (fine-tuning), every other weight is loaded and
    `reset_classifier` gives the network a fresh head; any other mismatch is an error."""
    opened = open_checkpoint(path)
    if opened.model != model:
        raise CheckpointError(f"the checkpoint '{path}' holds a {opened.model} ({opened.how}), but this run builds "
                              f"{model}: pass --model {opened.model}")
    if opened.model_kwargs != getattr(net, "model_kwargs", {}):
        LOG.warning(f"the weights of '{path}' were trained in a {model} built with {opened.model_kwargs}, this "
                    f"network with {getattr(net, 'model_kwargs', {})}: its outputs start from another function")
    params = opened.params
    prefix = classifier_prefix(net)
    head = params.get(f"{prefix}weight")
    if head is not None and tuple(head.shape) != tuple(net.get_classifier().weight.shape):
        check_compatible(net, params, path, exclude=(prefix,))
        ms.load_param_into_net(net, {k: v for k, v in params.items() if not k.startswith(prefix)},
                               strict_load=True)
        net.reset_classifier(net.num_classes)
        LOG.info(f"initialised from {path} ({opened.model}, {opened.how}); its {head.shape[0]}-class head replaced "
                 f"by a new {net.num_classes}-class classifier")
        return opened
    check_compatible(net, params, path)
    ms.load_param_into_net(net, params, strict_load=True)
    LOG.info(f"initialised from {path} ({opened.model}, {opened.how})")
    return opened


def recorded_model_kwargs(path: str) -> Dict:
    """The builder arguments the weights of a checkpoint need: from its record, or from the source its names were
    recognised as (MindCV's MobileNetV1: ReLU); {} without a path."""
    if not path or not os.path.isfile(path):
        return {}
    return open_checkpoint(path).model_kwargs


def classifier_prefix(net: nn.Cell) -> str:
    """The parameter-name prefix of the network's classification layer (e.g. "classifier.")."""
    return net.get_classifier().weight.name.rpartition(".")[0] + "."


def read_best(path: str) -> Optional[Tuple[float, int]]:
    """(top-1, epoch) recorded in a best checkpoint, or None when there is none (or it records neither)."""
    if not os.path.isfile(path):
        return None
    state = read_checkpoint(path)
    if "top_1_accuracy" not in state:
        return None
    epoch = int(state["epoch_num"].asnumpy()) if "epoch_num" in state else 0
    return float(state["top_1_accuracy"].asnumpy()), epoch

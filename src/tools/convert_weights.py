"""Convert timm / official PyTorch weights or MindSpore model-zoo checkpoints into this repository's checkpoints.

    python -m src.tools.convert_weights --source timm|modelzoo|mindcv --model NAME --input FILE --output FILE.ckpt
                                        [--ema]

Sources and the networks they convert into:

- `timm`: the official GhostNet / timm state_dict of `ghostnet_050`, `ghostnet_100`, `ghostnet_130` and timm's
  `mobilenetv1_100` (our `mobilenet_v1_100`), read from `.safetensors` (no PyTorch needed) or `.pth` / `.pt` /
  `.bin` (PyTorch's `torch.load(..., weights_only=True)`; never an unrestricted pickle). Our parameter names mirror
  theirs, so the only renames are BatchNorm's `weight/bias/running_mean/running_var` ->
  `gamma/beta/moving_mean/moving_variance`; `num_batches_tracked` is dropped.
- `modelzoo`: checkpoints (`.ckpt`) of the MindSpore model zoo's GhostNet 1x (`ghostnet_100`), no-SE 1x
  (`ghostnet_nose_100`), GhostNet 600M (`ghostnet_600m`), GENet_Res50 (`genet_res50_theta_minus`,
  `genet_res50_theta`, `genet_res50_theta_plus`) and MobileNetV1 (`mobilenet_v1_100`, 1001-class head). Their
  module trees differ from ours (flat GhostNet blocks, `ConvUnit.conv/.bn`, `Conv2dBnAct.conv/.batchnorm`,
  `network.N.M`, `end_point`, `fc`). Optimizer and bookkeeping entries (`moments.*`, `learning_rate`,
  `global_step`, ...) are dropped.
- `mindcv`: MindCV's checkpoints (`{model}-{sha256[:8]}[-910v2].ckpt`) of `ghostnet_050/100/130` and
  `mobilenet_v1_025/050/075/100` (1001 classes, ReLU: the record carries `act: relu` for the builder).

The name maps live with each model (its checkpoint filters, `src/models/<family>.py`); this tool reads the file and
writes the checkpoint.

The conversion is strict: every source tensor must be used exactly once and every parameter of our network
(BatchNorm moving statistics included) filled with the right shape, or the tool fails naming the unmatched
tensors on both sides and the shape mismatches. The classifier keeps the source's head size, so the result loads
with `load_weights(create_model(NAME, num_classes=N), path)` where N is the source's class count (printed).
"""
import argparse
import os
import sys
from typing import Dict, List, Optional

import mindspore as ms
import numpy as np

from ..cli import run_main
from ..engine.checkpoint import load_weights, read_checkpoint
from ..data.preprocessing import resolve_preprocessing
from ..engine.record import ModelRecord
from ..models import (convert_state_dict, create_model, find_source_model, get_default_cfg, known_sources,
                        weight_sources)
from ..models.convert import format_names, head_size
from ..outputs import atomic_save_checkpoint
from ..progress import Progress

PROG = "convert_weights"
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
# Wrappers a PyTorch training checkpoint may put around the state_dict, in order of preference.
STATE_DICT_KEYS = ("state_dict", "model", "state_dict_ema")


# ----------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------

def _to_numpy_dict(entries: Dict[str, object], path: str) -> Dict[str, np.ndarray]:
    bad = [k for k, v in entries.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise ValueError(f"'{path}' is not a flat state_dict: entries that are not tensors: {format_names(bad, 40)}")
    out = {}
    for k, v in entries.items():
        out[k] = v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) else v
    return out


def _torch_tensor_to_numpy(value):
    import torch
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.to(torch.float32)
        return value.numpy()
    return value


def _load_torch(path: str, prefer_ema: bool) -> Dict[str, object]:
    try:
        import torch
    except ImportError:
        raise ValueError(f"reading '{path}' needs PyTorch, which is not installed; install torch (CPU is enough) or "
                         f"convert the file to .safetensors, which this tool reads without PyTorch") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError / RuntimeError for refused or damaged files
        raise ValueError(f"cannot read '{path}' with torch.load(weights_only=True) (only tensors and plain "
                         f"containers are accepted, never arbitrary pickled objects): "
                         f"{str(e).strip().splitlines()[0][:300]}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' holds a {type(obj).__name__}, not a state_dict")
    keys = ("state_dict_ema",) + STATE_DICT_KEYS if prefer_ema else STATE_DICT_KEYS
    if prefer_ema and not isinstance(obj.get("state_dict_ema"), dict):
        raise ValueError(f"--ema: '{path}' has no 'state_dict_ema' entry")
    for key in keys:
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    return {k: _torch_tensor_to_numpy(v) for k, v in obj.items()}


def _load_safetensors(path: str) -> Dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise ValueError(f"reading '{path}' needs the safetensors package, which is not installed "
                         f"(pip install safetensors; PyTorch is not needed)") from None
    try:
        return load_file(path)
    except Exception as e:  # SafetensorError, or a dtype numpy lacks (bfloat16)
        raise ValueError(f"cannot read '{path}' as safetensors: {str(e).strip().splitlines()[0][:300]}") from None


def _load_mindspore(path: str) -> Dict[str, np.ndarray]:
    return {k: v.asnumpy() for k, v in read_checkpoint(path).items()}


def load_source(path: str, prefer_ema: bool = False) -> Dict[str, np.ndarray]:
    """The tensors of a weights file as numpy arrays (floating point as float32).

    `.safetensors`: safetensors' numpy reader. `.pth` / `.pt` / `.bin`: `torch.load(weights_only=True)`, unwrapping a
    `state_dict` / `model` / `state_dict_ema` entry (`state_dict_ema` first with `prefer_ema`) and a `module.` prefix.
    `.ckpt`: a MindSpore checkpoint.
    """
    if not path:
        raise ValueError("no input given: pass --input FILE")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"input '{path}' does not exist")
    lower = path.lower()
    if lower.endswith(".safetensors"):
        if prefer_ema:
            raise ValueError("--ema applies to .pth / .pt / .bin training checkpoints, not to .safetensors")
        entries = _load_safetensors(path)
    elif lower.endswith(TORCH_SUFFIXES):
        entries = _load_torch(path, prefer_ema)
    elif lower.endswith(".ckpt"):
        if prefer_ema:
            raise ValueError("--ema applies to .pth / .pt / .bin training checkpoints, not to .ckpt")
        entries = _load_mindspore(path)
    else:
        raise ValueError(f"unsupported input '{path}': expected .safetensors, .pth, .pt, .bin or .ckpt")
    if entries and all(k.startswith("module.") for k in entries):
        entries = {k[len("module."):]: v for k, v in entries.items()}
    if not entries:
        raise ValueError(f"'{path}' holds no tensors")
    return _to_numpy_dict(entries, path)


def save(params: Dict[str, np.ndarray], path: str, record: Optional[ModelRecord] = None) -> None:
    """Write `params` (and the model `record`) as a MindSpore checkpoint, replacing an existing file (MindSpore
    writes them read-only)."""
    if not path.endswith(".ckpt"):
        raise ValueError(f"output '{path}' must end with .ckpt")
    if os.path.isdir(path):
        raise ValueError(f"output '{path}' is a directory")
    atomic_save_checkpoint([{"name": k, "data": ms.Tensor(np.ascontiguousarray(v))} for k, v in params.items()],
                           path, append_dict=record.append_dict() if record is not None else None)


def converted_record(source: str, model: str, num_classes: int, input_path: str) -> ModelRecord:
    """The record of weights converted from `source`: the model's default preprocessing with what the source's
    weights were trained with (e.g. timm's MobileNetV1: mean and std 0.5, bicubic)."""
    cfg = get_default_cfg(model)
    overlay = dict(weight_sources(model)[source].preprocessing or {})
    return ModelRecord(model, num_classes, resolve_preprocessing(cfg, overlay), source=f"convert_weights ({source}) "
                       f"of {os.path.basename(input_path)}",
                       model_kwargs=dict(weight_sources(model)[source].model_kwargs or {}))


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    sources = known_sources()
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, choices=sources,
                        help="timm: official GhostNet / timm PyTorch weights; modelzoo: MindSpore model-zoo .ckpt; "
                             "mindcv: MindCV .ckpt")
    parser.add_argument("--model", required=True, help="our model name (the source's name accepted, e.g. "
                                                       "mobilenetv1_100)")
    parser.add_argument("--input", required=True, help=".safetensors, .pth / .pt / .bin (timm) or .ckpt (modelzoo)")
    parser.add_argument("--output", required=True, help="MindSpore checkpoint to write (.ckpt)")
    parser.add_argument("--ema", action="store_true",
                        help="take the 'state_dict_ema' entry of a PyTorch training checkpoint")
    return parser


def run(args: argparse.Namespace) -> int:
    model = find_source_model(args.source, args.model)
    lower = args.input.lower()
    allowed = (".safetensors",) + TORCH_SUFFIXES if args.source == "timm" else (".ckpt", ".safetensors")
    if not lower.endswith(allowed):
        raise ValueError(f"--source {args.source} reads {', '.join(allowed)} files, got '{args.input}'")
    if not args.output.endswith(".ckpt"):
        raise ValueError(f"output '{args.output}' must end with .ckpt")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise ValueError("--output must differ from --input")
    with Progress(4, "convert_weights", "stage") as progress:  # shown when the stages take a while
        state = load_source(args.input, prefer_ema=args.ema)
        progress.update(1, f"read {len(state)} tensors")
        params = convert_state_dict(args.source, model, state)
        num_classes = head_size(params, get_default_cfg(model).classifier)
        progress.update(1, f"converted to {len(params)} parameters")
        save(params, args.output, converted_record(args.source, model, num_classes, args.input))
        progress.update(1, "written")
        # Round trip: the written file must load completely into the network it was made for.
        kwargs = weight_sources(model)[args.source].model_kwargs or {}
        load_weights(create_model(model, num_classes=num_classes, **kwargs), args.output)
        progress.update(1, "loaded back")
    print(f"converted {len(state)} tensors of '{args.input}' into {len(params)} parameters of {model} "
          f"({num_classes} classes): {args.output}")
    extra = "".join(f", {k}={v!r}" for k, v in kwargs.items())
    print(f"load with: load_weights(create_model('{model}', num_classes={num_classes}{extra}), '{args.output}')")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    return run_main(PROG, _parser().parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())

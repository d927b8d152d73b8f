"""Convert timm / official PyTorch weights or MindSpore model-zoo checkpoints into this repository's checkpoints.

    python -m src.tools.convert_weights --source timm|modelzoo --model NAME --input FILE --output FILE.ckpt
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
  `network.N.M`, `end_point`, `fc`); the renames are listed with each family below. Optimizer and bookkeeping
  entries (`moments.*`, `learning_rate`, `global_step`, ...) are dropped.

The conversion is strict: every source tensor must be used exactly once and every parameter of our network
(BatchNorm moving statistics included) filled with the right shape, or the tool fails naming the unmatched
tensors on both sides and the shape mismatches. The classifier keeps the source's head size, so the result loads
with `load_weights(create_model(NAME, num_classes=N), path)` where N is the source's class count (printed).
"""
import argparse
import functools
import os
import re
import sys
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np

PROG = "convert_weights"
SOURCES = ("timm", "modelzoo")
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
# Wrappers a PyTorch training checkpoint may put around the state_dict, in order of preference.
STATE_DICT_KEYS = ("state_dict", "model", "state_dict_ema")
BN_RENAMES = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}


# ----------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------

def _to_numpy_dict(entries: Dict[str, object], path: str) -> Dict[str, np.ndarray]:
    bad = [k for k, v in entries.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise ValueError(f"'{path}' is not a flat state_dict: entries that are not tensors: {_fmt(bad)}")
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
    from src.checkpoint import read_checkpoint
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


# ----------------------------------------------------------------------------------------------------------------
# Name mappings. Each returns our parameter name for a source name, or None for a name it does not know.
# ----------------------------------------------------------------------------------------------------------------

def _timm_rename(name: str, state: Dict[str, np.ndarray]) -> Optional[str]:
    """Official GhostNet / timm names equal ours except BatchNorm's. A `weight` / `bias` belongs to a BatchNorm
    exactly when its module also has `running_mean` (PyTorch BN layers track running statistics by default)."""
    prefix, _, leaf = name.rpartition(".")
    if leaf in ("running_mean", "running_var"):
        return f"{prefix}.{BN_RENAMES[leaf]}"
    if leaf in ("weight", "bias") and f"{prefix}.running_mean" in state:
        return f"{prefix}.{BN_RENAMES[leaf]}"
    return name


def _stage_index(stage_sizes: Iterable[int]) -> List[Tuple[int, int]]:
    """Flat block index -> (stage, position in stage)."""
    return [(s, j) for s, size in enumerate(stage_sizes) for j in range(size)]


# Inside a model-zoo GhostBottleneck (research/cv/ghostnet/src/ghostnet.py and ghostnet600.py): every conv + BN is
# a ConvUnit with children `conv` / `bn`; ours are SequentialCells (`0` / `1`) or named `conv_dw` / `bn_dw`.
_ZOO_GHOST_BLOCK_RULES = [
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


def _apply(rules, name: str) -> Optional[str]:
    for pattern, repl in rules:
        if pattern.match(name):
            return pattern.sub(repl, name)
    return None


@functools.lru_cache(maxsize=None)
def _ghost_positions(nested: bool) -> Tuple[Tuple[str, ...], str]:
    """(our block path for each of the zoo's flat bottleneck indices, our path of the final ConvBnAct)."""
    if nested:
        from src.models.ghostnet import GHOSTNET_STAGES
        positions = tuple(f"{s}.{j}" for s, j in _stage_index(len(stage) for stage in GHOSTNET_STAGES))
        return positions, f"{len(GHOSTNET_STAGES)}.0"
    from src.models.ghostnet600 import GHOSTNET600_BLOCKS
    return tuple(str(i) for i in range(len(GHOSTNET600_BLOCKS))), str(len(GHOSTNET600_BLOCKS))


def _zoo_ghostnet_rename(name: str, state: Dict[str, np.ndarray], nested: bool) -> Optional[str]:
    """The zoo's flat `blocks.0..B-1` bottlenecks and `blocks.B` final ConvUnit (`conv` / `bn`).

    nested=True (GhostNet 1x / nose): ours groups the 16 bottlenecks in 9 stages (`blocks.{s}.{j}`) and the final
    ConvBnAct is `blocks.9.0.conv` / `.bn1`. nested=False (600M): ours is flat too, `blocks.0..18` + `blocks.19`.
    """
    if _SAME_NAME.match(name):
        return name
    m = _BLOCK.match(name)
    if not m:
        return None
    positions, final = _ghost_positions(nested)
    index, rest = int(m.group(1)), m.group(2)
    if index < len(positions):
        inner = _apply(_ZOO_GHOST_BLOCK_RULES, rest)
        return None if inner is None else f"blocks.{positions[index]}.{inner}"
    if index == len(positions):
        if rest == "conv.weight":
            return f"blocks.{final}.conv.weight"
        if rest.startswith("bn.") and "." not in rest[3:]:
            return f"blocks.{final}.bn1.{rest[3:]}"
    return None


# research/cv/GENet_Res50/src/GENet.py + GEBlock.py: stem `conv1` / `bn1`, `layer1..4`, `end_point` (Dense); each
# GEBlock has `conv1..3` and `down_layer` as nn.Conv2dBnAct (`conv.weight`, `batchnorm.*`), the gather as
# `downop` (SequentialCell: [dense 3x3 s2 conv, BN,] depthwise conv, BN; the first pair only at spatial >= 56) and
# the MLP as `mlpLayer` (0: conv, 1: ReLU, 2: conv).
_GENET_BLOCK = re.compile(r"^(layer[1-4]\.\d+)\.(.+)$")
_GENET_BLOCK_RULES = [
    (re.compile(r"^conv([123])\.conv\.weight$"), r"conv\1.weight"),
    (re.compile(r"^conv([123])\.batchnorm\.(\w+)$"), r"bn\1.\2"),
    (re.compile(r"^down_layer\.conv\.weight$"), r"downsample.0.weight"),
    (re.compile(r"^down_layer\.batchnorm\.(\w+)$"), r"downsample.1.\1"),
    (re.compile(r"^mlpLayer\.([02])\.weight$"), r"ge.mlp.\1.weight"),
]
_GENET_DOWNOP = re.compile(r"^downop\.([0-3])\.(\w+)$")


def _zoo_genet_rename(name: str, state: Dict[str, np.ndarray]) -> Optional[str]:
    if re.match(r"^(conv1\.weight|bn1\.\w+)$", name):
        return name
    m = re.match(r"^end_point\.(weight|bias)$", name)
    if m:
        return f"classifier.{m.group(1)}"
    m = _GENET_BLOCK.match(name)
    if not m:
        return None
    block, rest = m.groups()
    inner = _apply(_GENET_BLOCK_RULES, rest)
    if inner is not None:
        return f"{block}.{inner}"
    d = _GENET_DOWNOP.match(rest)
    if not d:
        return None
    index, leaf = int(d.group(1)), d.group(2)
    # The zoo's downop holds a dense stride-2 conv + BN before the depthwise gather when it has four entries.
    has_down = f"{block}.downop.2.weight" in state
    if has_down and index < 2:
        return f"{block}.ge.down.{index}.{leaf}"
    return f"{block}.ge.gather.{index - 2 if has_down else index}.{leaf}"


def _zoo_mobilenet_v1_rename(name: str, state: Dict[str, np.ndarray]) -> Optional[str]:
    """official/cv/MobileNet/mobilenetv1/src/mobilenet_v1.py: `network.{0..26}`, each a SequentialCell of conv (0),
    BN (1), ReLU6: 0 is the stem, then depthwise (odd) / pointwise (even) pairs; `fc` is the Dense head."""
    from src.models.mobilenet_v1 import MOBILENET_V1_STAGES
    m = re.match(r"^fc\.(weight|bias)$", name)
    if m:
        return f"classifier.{m.group(1)}"
    m = re.match(r"^network\.(\d+)\.([01])\.(\w+)$", name)
    if not m:
        return None
    unit, part, leaf = int(m.group(1)), m.group(2), m.group(3)
    if (part == "0") != (leaf == "weight"):
        return None
    positions = _stage_index(len(stage) for stage in MOBILENET_V1_STAGES)
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


# source -> our model name -> renamer
CONVERTERS: Dict[str, Dict[str, Callable[[str, Dict], Optional[str]]]] = {
    "timm": {
        "ghostnet_050": _timm_rename,
        "ghostnet_100": _timm_rename,
        "ghostnet_130": _timm_rename,
        "mobilenet_v1_100": _timm_rename,
    },
    "modelzoo": {
        "ghostnet_100": functools.partial(_zoo_ghostnet_rename, nested=True),
        "ghostnet_nose_100": functools.partial(_zoo_ghostnet_rename, nested=True),
        "ghostnet_600m": functools.partial(_zoo_ghostnet_rename, nested=False),
        "genet_res50_theta_minus": _zoo_genet_rename,
        "genet_res50_theta": _zoo_genet_rename,
        "genet_res50_theta_plus": _zoo_genet_rename,
        "mobilenet_v1_100": _zoo_mobilenet_v1_rename,
    },
}
# Names the sources use for our networks.
ALIASES = {
    "timm": {"mobilenetv1_100": "mobilenet_v1_100"},
    "modelzoo": {"ghostnet_1x": "ghostnet_100", "ghostnet_nose_1x": "ghostnet_nose_100", "ghostnet600": "ghostnet_600m",
                 "mobilenet_v1": "mobilenet_v1_100", "mobilenetv1": "mobilenet_v1_100"},
}


def resolve_model(source: str, model: str) -> str:
    """Our model name for `model` given as ours or as the source's name; ValueError if not convertible."""
    if source not in CONVERTERS:
        raise ValueError(f"unknown source '{source}'; known: {', '.join(SOURCES)}")
    name = ALIASES[source].get(model, model)
    if name not in CONVERTERS[source]:
        raise ValueError(f"no conversion of model '{model}' from --source {source}; convertible: "
                         f"{', '.join(sorted(CONVERTERS[source]))}")
    return name


# ----------------------------------------------------------------------------------------------------------------
# Conversion
# ----------------------------------------------------------------------------------------------------------------

def _fmt(names: Iterable[str]) -> str:
    from src.checkpoint import format_names  # imported here: nothing loads MindSpore at import
    return format_names(names, limit=40)


def drop_bookkeeping(source: str, state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Without `num_batches_tracked` and, for model-zoo checkpoints, optimizer and training-state entries."""
    from src.checkpoint import TRAINING_STATE_PREFIXES
    out = {}
    for name, value in state.items():
        if name == "num_batches_tracked" or name.endswith(".num_batches_tracked"):
            continue
        if source == "modelzoo" and name.startswith(TRAINING_STATE_PREFIXES):
            continue
        out[name] = value
    return out


def rename(source: str, model: str, state: Dict[str, np.ndarray]) -> Tuple[Dict[str, np.ndarray], Dict[str, str],
                                                                           List[str]]:
    """(renamed tensors, our name -> source name, source names that no rule knows or that collide)."""
    model = resolve_model(source, model)
    renamer = CONVERTERS[source][model]
    state = drop_bookkeeping(source, state)
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


def head_size(renamed: Dict[str, np.ndarray]) -> Optional[int]:
    """Class count of the source's classifier, if it has one of the expected rank."""
    weight = renamed.get("classifier.weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def target_shapes(model: str, num_classes: int) -> Dict[str, Tuple[int, ...]]:
    """Every parameter of our network (BN moving statistics included) and its shape."""
    from src.models import create_model
    net = create_model(model, num_classes=num_classes)
    return {name: tuple(p.shape) for name, p in net.parameters_dict().items()}


def check(model: str, renamed: Dict[str, np.ndarray], origin: Dict[str, str], unknown: List[str],
          expected: Dict[str, Tuple[int, ...]]) -> None:
    """Raise ValueError listing unused source tensors, unfilled parameters and shape mismatches."""
    unused = list(unknown) + [f"{origin[k]} (as {k})" if origin[k] != k else k for k in renamed if k not in expected]
    missing = [k for k in expected if k not in renamed]
    mismatched = [f"{k} (source {origin[k]} {tuple(renamed[k].shape)}, ours {expected[k]})"
                  for k in expected if k in renamed and tuple(renamed[k].shape) != expected[k]]
    if not (unused or missing or mismatched):
        return
    lines = [f"the weights do not fit {model}:"]
    if unused:
        lines.append(f"  {len(unused)} source tensor(s) not used: {_fmt(unused)}")
    if missing:
        lines.append(f"  {len(missing)} parameter(s) of {model} not filled: {_fmt(missing)}")
    if mismatched:
        lines.append(f"  {len(mismatched)} shape mismatch(es): {_fmt(mismatched)}")
    raise ValueError("\n".join(lines))


def convert(source: str, model: str, state: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Our parameters (in our network's order) from a source state_dict; ValueError on any mismatch.

    The target network is built with the source's head size (`classifier` rows), so the result loads into
    `create_model(model, num_classes=head_size)`.
    """
    name = resolve_model(source, model)
    renamed, origin, unknown = rename(source, name, state)
    num_classes = head_size(renamed) or 1000  # without a head the check below names it as missing
    expected = target_shapes(name, num_classes)
    check(name, renamed, origin, unknown, expected)
    return {k: renamed[k] for k in expected}


def save(params: Dict[str, np.ndarray], path: str) -> None:
    """Write `params` as a MindSpore checkpoint, replacing an existing file (MindSpore writes them read-only)."""
    import mindspore as ms
    if not path.endswith(".ckpt"):
        raise ValueError(f"output '{path}' must end with .ckpt")
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if os.path.lexists(path):
        if os.path.isdir(path):
            raise ValueError(f"output '{path}' is a directory")
        os.remove(path)
    ms.save_checkpoint([{"name": k, "data": ms.Tensor(np.ascontiguousarray(v))} for k, v in params.items()], path)


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    models = ", ".join(f"{s}: {' '.join(sorted(CONVERTERS[s]))}" for s in SOURCES)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0],
                                     epilog=f"convertible models -- {models}")
    parser.add_argument("--source", required=True, choices=SOURCES,
                        help="timm: official GhostNet / timm PyTorch weights; modelzoo: MindSpore model-zoo .ckpt")
    parser.add_argument("--model", required=True, help="our model name (timm's name accepted, e.g. mobilenetv1_100)")
    parser.add_argument("--input", required=True, help=".safetensors, .pth / .pt / .bin (timm) or .ckpt (modelzoo)")
    parser.add_argument("--output", required=True, help="MindSpore checkpoint to write (.ckpt)")
    parser.add_argument("--ema", action="store_true",
                        help="take the 'state_dict_ema' entry of a PyTorch training checkpoint")
    return parser


def run(args: argparse.Namespace) -> int:
    from src.runtime import configure_cpu_kernels
    configure_cpu_kernels()
    model = resolve_model(args.source, args.model)
    lower = args.input.lower()
    allowed = (".safetensors",) + TORCH_SUFFIXES if args.source == "timm" else (".ckpt", ".safetensors")
    if not lower.endswith(allowed):
        raise ValueError(f"--source {args.source} reads {', '.join(allowed)} files, got '{args.input}'")
    if not args.output.endswith(".ckpt"):
        raise ValueError(f"output '{args.output}' must end with .ckpt")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise ValueError("--output must differ from --input")
    state = load_source(args.input, prefer_ema=args.ema)
    params = convert(args.source, model, state)
    save(params, args.output)
    num_classes = int(params["classifier.weight"].shape[0])
    # Round trip: the written file must load completely into the network it was made for.
    from src.checkpoint import load_weights
    from src.models import create_model
    load_weights(create_model(model, num_classes=num_classes), args.output)
    print(f"converted {len(state)} tensors of '{args.input}' into {len(params)} parameters of {model} "
          f"({num_classes} classes): {args.output}")
    print(f"load with: load_weights(create_model('{model}', num_classes={num_classes}), '{args.output}')")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    from src.cli import USER_ERRORS
    parser = _parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:  # argparse already printed usage and `convert_weights: error: ...`
        return int(e.code) if isinstance(e.code, int) else 2
    try:
        return run(args)
    except USER_ERRORS as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        sys.stderr.write(f"{PROG}: error: {message}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())

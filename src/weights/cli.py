"""`--pretrained [TAG|PATH]` on the entry scripts: the option is resolved before the script's own parsing into the
checkpoint option the script already has (--checkpoint_path, or --pretrained_ckpt where training starts from it).

    --pretrained                      the default weights of --model (python -m src.tools.weights list marks them)
    --pretrained ghostnet_100.mindcv  a tag (its model is used unless --model names another: an error)
    --pretrained mindcv               a tag of --model
    --pretrained FILE                 a local file (.ckpt as it is; timm's .safetensors / .pth converted once)
"""
from typing import List, Optional, Sequence, Tuple

from ..errors import ConfigError

FLAG = "--pretrained"
OFF = ("", "false", "none", "no", "0")


def _option(argv: Sequence[str], name: str) -> Tuple[Optional[str], List[int]]:
    """(value of `--name VALUE` / `--name=VALUE`, indices it occupies); a bare `--name` has the value "true"."""
    for i, token in enumerate(argv):
        if token == name:
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                return argv[i + 1], [i, i + 1]
            return "true", [i]
        if token.startswith(name + "="):
            return token[len(name) + 1:], [i]
    return None, []


def expand_pretrained(argv: Sequence[str], target: str, model_option: str = "--model") -> List[str]:
    """`argv` with `--pretrained VALUE` replaced by `target PATH` (the local checkpoint it names, fetched and
    converted when needed) and, for a tag, `--model` set to the tag's model when it is not given."""
    argv = list(argv)
    value, where = _option(argv, FLAG)
    if value is None:
        return argv
    rest = [token for i, token in enumerate(argv) if i not in where]
    if value.lower() in OFF[1:]:
        return rest
    if _option(rest, target)[0] is not None:
        raise ConfigError(f"{FLAG} and {target} both name the weights: pass one of them")
    from ..models import check_model_name
    from .resolve import is_path, resolve_pretrained
    from .tags import get_tag
    model, _ = _option(rest, model_option)
    if is_path(value):
        if not model:
            return rest + [target, resolve_pretrained_path(value)]
    elif "." in value:
        tag = get_tag(value)
        if model and model != tag.model:
            raise ConfigError(f"{FLAG} {value} holds weights of {tag.model}, but --model is {model}")
        if not model:
            rest += [model_option, tag.model]
        model = tag.model
    elif not model:
        raise ConfigError(f"{FLAG} {value}: name the model (--model NAME) or give a full tag such as "
                          f"ghostnet_100.in1k (python -m src.tools.weights list)")
    check_model_name(model)
    return rest + [target, resolve_pretrained(model, value)]


def resolve_pretrained_path(path: str) -> str:
    """A local weights file without a model named: a .ckpt as it is (its record or its names tell the model)."""
    import os
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{FLAG} '{path}' does not exist")
    if not path.lower().endswith(".ckpt"):
        raise ConfigError(f"{FLAG} '{path}': converting a PyTorch file needs the model: add --model NAME")
    return path

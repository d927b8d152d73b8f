"""Value types of the configuration: each parses a command-line string or a YAML value, or raises ValueError
naming the value and what was expected."""
import math
from typing import Any, Callable, List, Optional

import yaml


def _yaml_scalar(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError:
            return value
    return value


def to_int(value: Any) -> int:
    parsed = _yaml_scalar(value)
    if isinstance(parsed, bool) or not isinstance(parsed, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return parsed


def to_float(value: Any) -> float:
    parsed = value
    if isinstance(value, str):
        try:
            parsed = float(value)  # YAML 1.1 reads "4e-5" as a string; float() reads it
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if isinstance(parsed, bool) or not isinstance(parsed, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    if not math.isfinite(parsed):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(parsed)


def to_bool(value: Any) -> bool:
    parsed = _yaml_scalar(value)
    if isinstance(parsed, str) and parsed.lower() in ("true", "false"):
        parsed = parsed.lower() == "true"
    if not isinstance(parsed, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return parsed


def to_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise ValueError(f"expected a string, got {value!r}")
    return str(value)


def to_tristate(value: Any) -> str:
    """auto | true | false (YAML and command-line booleans are accepted for true / false)."""
    parsed = _yaml_scalar(value)
    if isinstance(parsed, bool):
        return "true" if parsed else "false"
    return str(parsed).lower()


DATASET_NAMES = {"imagenet2012": "imagenet", "imagenet-1k": "imagenet", "cifar-10": "cifar10"}


def to_dataset(value: Any) -> str:
    """A data-set kind; the model zoo's scripts' names (imagenet2012) are accepted."""
    text = to_str(value).lower()
    return DATASET_NAMES.get(text, text)


def to_image_check(value: Any) -> str:
    text = to_str(value)
    return "structure" if text == "signature" else text  # "signature" is an alias of "structure"


def float_list(length: int) -> Callable[[Any], Optional[List[float]]]:
    def parse(value: Any) -> Optional[List[float]]:
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
            return None
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected {length} comma-separated numbers, got {value!r}")
        numbers = [to_float(v.strip() if isinstance(v, str) else v) for v in items if not (isinstance(v, str)
                                                                                          and not v.strip())]
        if len(numbers) != length:
            raise ValueError(f"expected {length} numbers, got {len(numbers)} ({value!r})")
        return numbers
    parse.__name__ = f"{length} numbers"
    return parse


def optional(parse: Callable) -> Callable:
    """The type, or None for an empty / "none" / null value (the default then comes from the model)."""
    def wrapped(value: Any):
        if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null", "auto")):
            return None
        return parse(value)
    wrapped.__name__ = parse.__name__
    return wrapped


def to_upper(value: Any) -> str:
    return to_str(value).upper()


def to_off(value: Any) -> str:
    """A recipe's `pretrained` (MindCV's recipes say False): only off is accepted there."""
    if str(value).lower() in ("", "false", "none"):
        return ""
    raise ValueError(f"pretrained {value!r} in a recipe: pass --pretrained on the command line")

"""Reading YAML recipes strictly: a syntax error names the file, line and column (and says when a tab is the
cause), and a key given twice in one mapping is refused with both lines instead of the last value silently winning.
"""
import os
from typing import Any, Dict

import yaml

from .errors import ConfigError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping with a duplicate key."""

    def construct_mapping(self, node, deep=False):
        seen: Dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise ConfigError(f"config file '{key_node.start_mark.name}' gives the key '{key}' twice, on lines "
                                  f"{seen[key]} and {line}; keep one")
            seen.setdefault(key, line)
        return super().construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


def _syntax_error(path: str, text: str, error: yaml.YAMLError) -> ConfigError:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return ConfigError(f"config file '{path}' is not valid YAML: {problem}")
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    where = f"'{path}', line {mark.line + 1}, column {mark.column + 1}"
    if "\t" in line[:mark.column + 1] or "'\\t'" in problem:
        return ConfigError(f"config file {where}: a tab character; YAML does not allow tabs for indentation, "
                           f"indent with spaces")
    shown = f": {line.strip()!r}" if line.strip() else ""
    return ConfigError(f"config file {where} is not valid YAML: {problem}{shown}")


def load_yaml_mapping(path: str) -> Dict[str, Any]:
    """The mapping a YAML recipe holds; FileNotFoundError, or ConfigError naming the file (and line) otherwise."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file '{path}' does not exist")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        data = yaml.load(text, Loader=_loader_for(path)) or {}
    except yaml.YAMLError as e:
        raise _syntax_error(path, text, e) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values")
    return data


def _loader_for(path: str):
    """A loader class whose marks carry `path` as the stream name (yaml.load names a str stream '<unicode string>')."""
    class Loader(_StrictLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self.name = path
    return Loader

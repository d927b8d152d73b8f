"""Configuration of the entry scripts: typed defaults -> YAML recipe -> command-line overrides.

`types` parses values, `keys` is the table of every key (section, bounds, the scripts that take it), `parsing`
builds each script's parser and the effective `Config`.
"""
from .keys import (ALIASES, BENCH, EVAL, EVAL_ONNX, EXPORT_SCRIPT, KEY_BY_NAME, KEYS, PREDICT, SCRIPT_NAMES, TRAIN, Key,
                   keys_of)
from .parsing import COMMAND_LINE, DEFAULT, RECIPE, Config, build_parser, load_yaml, merge_aliases, parse_config, \
    save_config, validate
from .types import float_list, optional, to_bool, to_float, to_int, to_str

__all__ = ["ALIASES", "BENCH", "COMMAND_LINE", "Config", "DEFAULT", "EVAL", "EVAL_ONNX", "EXPORT_SCRIPT", "KEYS",
           "KEY_BY_NAME", "Key", "PREDICT", "RECIPE", "SCRIPT_NAMES", "TRAIN", "build_parser", "float_list",
           "keys_of", "load_yaml", "merge_aliases", "optional", "parse_config", "save_config", "to_bool", "to_float",
           "to_int", "to_str", "validate"]

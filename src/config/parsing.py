"""Parsing the configuration: typed defaults -> YAML recipe -> command-line overrides, checked key by key (type,
allowed values, interval) and across keys. An unknown key is refused with the close matches; a key that another
script takes is refused naming that script. Only the entry scripts see a `Config`: they unpack it into the
library's keyword arguments.
"""
import argparse
import difflib
import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import yaml

from ..errors import ConfigError
from ..outputs import atomic_write_text
from ..yaml_loader import load_yaml_mapping
from .keys import ALIASES, DATA, KEY_BY_NAME, KEYS, SCRIPT_NAMES, SECTION_TITLES, TRAIN, Key, keys_of

COMMAND_LINE, RECIPE, DEFAULT = "command line", "recipe", "default"


class Config:
    """The effective configuration of one script: an attribute per key, and where each value came from."""

    def __init__(self, values: Dict[str, Any], sources: Dict[str, str], script: str = TRAIN):
        self.__dict__.update(values)
        self._sources = dict(sources)
        self.script = script

    def to_dict(self) -> Dict[str, Any]:
        """The values of the keys the script takes (what config.yaml and the model record hold)."""
        return {k.name: getattr(self, k.name) for k in keys_of(self.script)}

    def source(self, key: str) -> str:
        """'default', 'recipe' or 'command line'."""
        return self._sources.get(key, DEFAULT)

    def from_command_line(self, key: str) -> bool:
        return self.source(key) == COMMAND_LINE

    def set_by(self, source: str, keys: Sequence[str]) -> Dict[str, Any]:
        """{key: value} of those `keys` whose value came from `source` ("command line", "recipe" or "default")."""
        return {k: getattr(self, k) for k in keys if self.source(k) == source}

    def replace(self, source: str = COMMAND_LINE, **values) -> "Config":
        """A copy with `values` set (by default as if given on the command line; `source` says otherwise, e.g.
        "data" for what a script derived from the data), validated."""
        unknown = [k for k in values if k not in KEY_BY_NAME]
        if unknown:
            raise _unknown_key(unknown[0], "replace()")
        merged = {**{k: getattr(self, k) for k in KEY_BY_NAME}, **values}
        return validate(Config(merged, {**self._sources, **{k: source for k in values}}, self.script),
                        {k.name: k for k in keys_of(self.script)})


def _unknown_key(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(KEY_BY_NAME) + list(ALIASES), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run with --help to list the keys"
    return ConfigError(f"unknown config key '{key}' in {where}{hint}")


def _parse_value(key: Key, value: Any, where: str) -> Any:
    try:
        parsed = key.type(value)
    except ValueError as e:
        raise ConfigError(f"config key '{key.name}' in {where}: {e}") from None
    if key.choices and parsed is not None and parsed not in key.choices:
        raise ConfigError(f"config key '{key.name}' is '{parsed}'; expected one of {', '.join(key.choices)}")
    return parsed


def validate(cfg: Config, keys: Optional[Dict[str, Key]] = None) -> Config:
    """Each key's interval, then the checks across keys; ConfigError naming the key, the value and what is
    allowed. `keys`: the script's variants of keys whose interval differs."""
    for key in KEYS:
        where = f"--{key.name}" if cfg.from_command_line(key.name) else f"config key '{key.name}'"
        (keys or {}).get(key.name, key).check_bounds(getattr(cfg, key.name), where)
    if max(cfg.lr_init, cfg.lr_end) > cfg.lr_max:
        raise ConfigError(f"lr_max ({cfg.lr_max}) is the peak of the schedule, but lr_init is {cfg.lr_init} and "
                          f"lr_end {cfg.lr_end}; neither may exceed it")
    if cfg.crop_ratio is not None and not 0 < cfg.crop_ratio[0] <= cfg.crop_ratio[1]:
        raise ConfigError(f"crop_ratio needs two values 0 < low <= high (e.g. 0.75,1.3333), got {cfg.crop_ratio}")
    if cfg.std is not None and min(cfg.std) <= 0:
        raise ConfigError(f"std values must be positive, got {cfg.std}")
    if cfg.lr_scaling == "linear" and cfg.lr_reference_batch == 0:
        raise ConfigError("lr_scaling linear needs lr_reference_batch: the global batch size the lr values were set "
                          "for (e.g. 1024 for the GhostNet recipe's 8 cards x 128)")
    if cfg.kd_teacher_ckpt and not cfg.kd_teacher:
        raise ConfigError("kd_teacher_ckpt is set but kd_teacher is not: name the teacher's model with --kd_teacher")
    if cfg.warmup_epochs > cfg.epoch_size:
        raise ConfigError(f"warmup_epochs ({cfg.warmup_epochs}) exceeds epoch_size ({cfg.epoch_size})")
    return cfg


def load_yaml(path: str) -> Dict[str, Any]:
    """A recipe's mapping; strict: duplicate keys refused, syntax errors with the line (yaml_loader.py)."""
    return load_yaml_mapping(path)


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError (the entry scripts' one error path) and names unknown keys' close matches."""

    def error(self, message: str):
        raise ConfigError(message)


def build_parser(prog: str, description: str, extra: Sequence[Tuple[Sequence[str], dict]] = (),
                 script: str = TRAIN) -> _Parser:
    """The parser of the keys `script` takes, grouped by section, plus `--config` / `-c` and the script's own
    `extra` arguments (positionals)."""
    parser = _Parser(prog=prog, description=description, allow_abbrev=False, argument_default=argparse.SUPPRESS,
                     usage="%(prog)s [-c FILE.yaml] [--KEY VALUE ...]" + "".join(
                         f" {kwargs.get('metavar', flags[0])} ..." for flags, kwargs in extra
                         if not flags[0].startswith("-")),
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Values come from the defaults, then the YAML recipe given by --config, then the command "
                            "line. Lists take comma-separated values; booleans true or false.")
    parser.add_argument("-c", "--config", "--config_path", dest="config", metavar="FILE.yaml",
                        help="YAML recipe (configs/*.yaml)")
    for flags, kwargs in extra:
        parser.add_argument(*flags, **kwargs)
    groups = {}
    own = {key.name: key for key in keys_of(script)}
    for key in KEYS:  # the keys of other scripts are parsed (and checked) too, but not listed
        key = own.get(key.name, key)
        group = groups.get(key.section) or parser.add_argument_group(SECTION_TITLES[key.section])
        groups[key.section] = group
        allowed = f"; one of {' | '.join(key.choices)}" if key.choices else ""
        default = "from the model" if key.default is None and key.section == DATA else key.default
        also = f"; also --{', --'.join(key.aliases)}" if key.aliases else ""
        text = f"{key.help}{allowed} (default: {default}{also})" if key.name in own else argparse.SUPPRESS
        group.add_argument(f"--{key.name}", dest=key.name, metavar=_METAVARS.get(key.type.__name__, "VALUE"),
                           help=text, type=_cli_type(key))
        for alias in key.aliases:
            group.add_argument(f"--{alias}", dest=f"{_ALIAS_DEST}{alias}", type=_cli_type(key), help=argparse.SUPPRESS)
    return parser


_ALIAS_DEST = "alias:"


def merge_aliases(given: Dict[str, Any], where: str) -> Dict[str, Any]:
    """`given` (key or alias -> value) with every alias replaced by its key; an alias and its key (or two
    aliases of one key) with different values is a ConfigError naming both."""
    merged: Dict[str, Any] = {}
    named: Dict[str, str] = {}
    for name, value in given.items():
        key = ALIASES.get(name, name)
        if key in merged and merged[key] != value:
            raise ConfigError(f"{where} gives both {named[key]} = {merged[key]!r} and {name} = {value!r}, which are "
                              f"the same key ({key}) with different values; give one")
        merged[key], named[key] = value, name
    return merged


_METAVARS = {"to_int": "N", "to_float": "X", "to_bool": "BOOL", "to_str": "VALUE", "to_tristate": "VALUE",
             "3 numbers": "A,B,C", "2 numbers": "LOW,HIGH"}


def _cli_type(key: Key) -> Callable:
    def parse(value: str):
        try:
            return _parse_value(key, value, "the command line")
        except ConfigError as e:  # argparse shows an ArgumentTypeError's own message
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = key.name
    return parse


def parse_config(argv: Sequence[str], prog: str = "train.py", description: str = "",
                 extra: Sequence[Tuple[Sequence[str], dict]] = (), script: str = TRAIN
                 ) -> Tuple[Config, argparse.Namespace]:
    """(the effective Config of `script`, its own `extra` arguments and --config) from `argv`. A recipe may hold
    any known key (recipes are shared by the scripts); the command line only the keys `script` takes."""
    parser = build_parser(prog, description, extra, script)
    args, rest = parser.parse_known_args(list(argv))
    for item in rest:
        if item.startswith("--"):
            raise _unknown_key(item[2:].partition("=")[0], "the command line")
        raise ConfigError(f"unexpected argument '{item}'; options are --KEY VALUE pairs (see --help)")
    given = {k: getattr(args, k) for k in KEY_BY_NAME if hasattr(args, k)}
    given.update({d[len(_ALIAS_DEST):]: v for d, v in vars(args).items() if d.startswith(_ALIAS_DEST)})
    given = merge_aliases(given, "the command line")
    keys = {k.name: k for k in keys_of(script)}
    ignored = [k for k in given if k not in keys]
    for name in ignored:
        KEY_BY_NAME[name].check_bounds(given[name], f"--{name}")
    _note_other_scripts_keys(prog, script, ignored)
    given = {k: v for k, v in given.items() if k in keys}
    values = {k.name: keys.get(k.name, k).default for k in KEYS}
    sources = {k.name: DEFAULT for k in KEYS}
    recipe = getattr(args, "config", None)
    if recipe:
        for name, value in _recipe_items(recipe, keys).items():
            values[name] = value
            sources[name] = RECIPE
    values.update(given)
    sources.update({k: COMMAND_LINE for k in given})
    own = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in KEY_BY_NAME
                                and not k.startswith(_ALIAS_DEST)})
    return validate(Config(values, sources, script), keys), own


def _note_other_scripts_keys(prog: str, script: str, names: Sequence[str]) -> None:
    """One line naming the options given on the command line that another script takes and this one ignores
    (commands often share a list of options, as the model zoo's launchers do)."""
    if names:
        users = sorted({SCRIPT_NAMES[s] for name in names for s in KEY_BY_NAME[name].used_by})
        sys.stderr.write(f"{prog}: note: ignoring {', '.join('--' + n for n in names)}: not an option of "
                         f"{SCRIPT_NAMES[script]} (but of {', '.join(users)})\n")


def _recipe_items(path: str, keys: Dict[str, Key]) -> Dict[str, Any]:
    """The checked values of a YAML recipe, aliases replaced by their keys (`keys`: the script's own variants)."""
    values = {}
    for name, value in load_yaml(path).items():
        if name not in KEY_BY_NAME and name not in ALIASES:
            raise _unknown_key(name, f"'{path}'")
        canonical = ALIASES.get(name, name)
        key = keys.get(canonical, KEY_BY_NAME[canonical])
        if key.from_recipe:
            values[name] = _parse_value(key, value, f"'{path}'")
    return merge_aliases(values, f"'{path}'")


def save_config(values, path: str) -> None:
    """Write an effective config (a Config or its values) as YAML, atomically; it reads back as a recipe."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    values = values.to_dict() if isinstance(values, Config) else dict(values)
    atomic_write_text(path, yaml.safe_dump(values, sort_keys=False))


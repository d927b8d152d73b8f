"""Configuration of the entry scripts: typed defaults -> YAML recipe -> command-line overrides.

Every key is declared once in `KEYS` (name, type, default, allowed values, section, help). From that table come
the argparse parser (`--help` explains every key with its allowed values, grouped by section), the checking of
YAML recipes (an unknown key is refused with the close matches), and the effective config written next to the
checkpoints. Only the entry scripts see a `Config`: they unpack it into the library's keyword arguments.
"""
import argparse
import difflib
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import yaml

from .errors import ConfigError
from .outputs import atomic_write_text
from .yaml_loader import load_yaml_mapping


# --- value types: each parses a command-line string or a YAML value ----------------------------------------------
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
    return "structure" if text == "signature" else text  # the older name of the same check


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


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    type: Callable
    section: str
    help: str
    choices: Optional[Tuple[str, ...]] = None
    aliases: Tuple[str, ...] = ()      # the model zoo's and MindCV's names for the key


M, D, A, O, R, E = "model", "data", "augmentation", "optimisation", "run", "evaluation"
KEYS: Tuple[Key, ...] = (
    Key("model", "ghostnet_100", to_str, M, "network name (python -m src.tools.model_info lists them)"),
    Key("num_classes", 1000, to_int, M, "outputs of the classifier; train.py takes it from the data when not "
                                        "given, eval.py and export.py from the checkpoint unless it is given on the "
                                        "command line", aliases=("class_num", "n_class")),
    Key("drop_rate", 0.2, to_float, M, "dropout probability before the classifier, in [0, 1)"),
    Key("pretrained_ckpt", "", to_str, M, "start from these weights (ours, or a model-zoo checkpoint converted on "
                                          "the fly); a head of another class count is replaced",
        aliases=("pre_trained",)),
    Key("freeze_epochs", 0, to_int, M, "train only the classifier for the first N epochs (fine-tuning)"),
    Key("freeze_bn", False, to_bool, M, "BN normalises with, and keeps, its running statistics (small-batch "
                                        "fine-tuning); gamma and beta still learn"),
    Key("dataset", "auto", to_dataset, D, "auto: follow the data path (CIFAR-10 binary batches, else class "
                                          "folders); imagenet (or imagenet2012): DATA/train and DATA/val class "
                                          "folders (or the zoo's ilsvrc / validation_preprocess); folder: class "
                                          "folders; cifar10: the binary batches; synthetic: the generated quickstart "
                                          "set (made only when no data path is given or this is asked for on the "
                                          "command line)", ("auto", "imagenet", "folder", "cifar10", "synthetic"),
        aliases=("dateset",)),
    Key("data_path", "", to_str, D, "data root, a split folder, or cifar-10-batches-bin (synthetic: where to "
                                    "generate it; default OUTPUT_DIR/data); eval.py defaults to the data recorded "
                                    "in the checkpoint", aliases=("dataset_path", "data_dir")),
    Key("image_size", None, optional(to_int), D, "training and evaluation crop (default: the model's input size)"),
    Key("eval_resize", None, optional(to_int), D, "evaluation resizes the short side to this, then centre-crops "
                                                  "image_size (default: image_size over the model's crop fraction)"),
    Key("interpolation", None, optional(to_str), D, "resize interpolation (default: the model's)",
        ("bilinear", "bicubic", "nearest", "area")),
    Key("mean", None, float_list(3), D, "normalisation mean of 0..1 RGB values, e.g. 0.485,0.456,0.406 "
                                        "(default: CIFAR-10's for cifar10, else the model's)"),
    Key("std", None, float_list(3), D, "normalisation standard deviation, three values (default as for mean)"),
    Key("image_check", "structure", to_image_check, D, "how image files are checked before they are read: "
                                                       "structure (headers and end marker, about 20 us a file; "
                                                       "the older name signature means the same), decode (decode "
                                                       "every file with Pillow), none",
        ("none", "structure", "decode")),
    Key("num_parallel_workers", 4, to_int, D, "data-pipeline workers (capped at the CPU count)"),
    Key("batch_size", 128, to_int, D, "images per step and device"),
    Key("eval_batch_size", 0, to_int, D, "evaluation batch (0: batch_size)"),
    Key("synthetic_image_size", 64, to_int, D, "side of the generated quickstart images"),
    Key("synthetic_train_per_class", 300, to_int, D, "generated training images per class"),
    Key("synthetic_val_per_class", 50, to_int, D, "generated validation images per class"),
    Key("min_scale", 0.08, to_float, A, "smallest area fraction of the random resized crop, in (0, 1]"),
    Key("crop_ratio", None, float_list(2), A, "aspect-ratio range LOW,HIGH of that crop (default 0.75,1.3333)"),
    Key("color_jitter", 0.0, to_float, A, "brightness / contrast / saturation jitter (0: off)"),
    Key("hflip", 0.5, to_float, A, "horizontal flip probability"),
    Key("auto_augment", "none", to_str, A, "automatic augmentation policy (training only)",
        ("none", "randaugment", "autoaugment")),
    Key("randaug_num_ops", 2, to_int, A, "RandAugment: operations per image"),
    Key("randaug_magnitude", 9, to_int, A, "RandAugment: magnitude (0-30)"),
    Key("random_erasing", 0.0, to_float, A, "probability of erasing a random rectangle (training only)"),
    Key("mixup", 0.0, to_float, A, "mixup Beta alpha (0: off); labels become soft targets"),
    Key("cutmix", 0.0, to_float, A, "cutmix Beta alpha (0: off); with mixup, one of the two per batch"),
    Key("mix_prob", 1.0, to_float, A, "probability that a batch is mixed when mixup / cutmix is on"),
    Key("epoch_size", 90, to_int, O, "epochs to train"),
    Key("optimizer", "momentum", to_str, O, "optimizer (rmsproptf: TensorFlow's RMSProp, timm's RMSpropTF)",
        ("momentum", "sgd", "rmsproptf")),
    Key("momentum", 0.9, to_float, O, "momentum, in [0, 1)"),
    Key("rmsprop_decay", 0.9, to_float, O, "rmsproptf: decay of the mean square of the gradients, in (0, 1)"),
    Key("rmsprop_eps", 1e-3, to_float, O, "rmsproptf: epsilon, added inside the square root, > 0"),
    Key("nesterov", False, to_bool, O, "Nesterov momentum"),
    Key("weight_decay", 1e-4, to_float, O, "weight decay (L2)"),
    Key("filter_bias_and_bn", True, to_bool, O, "no weight decay on BN parameters and biases"),
    Key("lr_decay_mode", "cosine", to_str, O, "decay after the warmup (staircase: lr_max x lr_decay_rate every "
                                               "lr_decay_epochs epochs)",
        ("cosine", "linear", "poly", "steps", "staircase", "constant"), aliases=("decay_mode",)),
    Key("lr_decay_rate", 0.973, to_float, O, "staircase decay: the factor per period, in (0, 1]"),
    Key("lr_decay_epochs", 2.4, to_float, O, "staircase decay: the period in epochs (fractions allowed), > 0"),
    Key("lr_init", 0.0, to_float, O, "learning rate at the start of the warmup"),
    Key("lr_max", 0.1, to_float, O, "peak learning rate (after the warmup), > 0", aliases=("lr",)),
    Key("lr_end", 0.0, to_float, O, "learning rate at the end"),
    Key("lr_power", 2.0, to_float, O, "exponent of the poly decay"),
    Key("warmup_epochs", 0.0, to_float, O, "linear warmup length in epochs (fractions allowed)"),
    Key("lr_scaling", "none", to_str, O, "linear: multiply the lr values by global batch / lr_reference_batch",
        ("none", "linear")),
    Key("lr_reference_batch", 0, to_int, O, "the global batch the recipe's lr values are for (0: not stated)"),
    Key("label_smooth_factor", 0.1, to_float, O, "label smoothing of the cross entropy, in [0, 1); 0: plain",
        aliases=("label_smooth",)),
    Key("use_label_smooth", True, to_bool, O, "false: plain cross entropy whatever label_smooth_factor says (the "
                                              "model zoo's switch)"),
    Key("kd_teacher", "", to_str, O, "knowledge distillation: a registered model whose logits the student learns "
                                     "from (empty: no distillation); needs kd_teacher_ckpt"),
    Key("kd_teacher_ckpt", "", to_str, O, "knowledge distillation: the teacher's trained checkpoint (same classes)"),
    Key("kd_weight", 0.5, to_float, O, "knowledge distillation: loss = (1 - w) x label loss + w x T^2 x "
                                       "KL(teacher || student at temperature T), w in [0, 1]"),
    Key("kd_temperature", 1.0, to_float, O, "knowledge distillation: the softmax temperature T, > 0"),
    Key("ema", False, to_bool, O, "keep an exponential moving average of the weights (validation and the best "
                                  "checkpoint then use it)"),
    Key("ema_decay", 0.9999, to_float, O, "EMA decay, in (0, 1)"),
    Key("amp_level", "auto", to_str, O, "mixed precision (auto: O0 on CPU, O2 on GPU, O3 on Ascend)",
        ("auto", "O0", "O2", "O3")),
    Key("loss_scale", 1024.0, to_float, O, "fixed loss scale used when amp_level is not O0"),
    Key("device_target", "auto", to_str, R, "device (auto: the one MindSpore was installed for)",
        ("auto", "CPU", "GPU", "Ascend")),
    Key("device_id", 0, to_int, R, "device index (a launcher's DEVICE_ID wins unless given on the command line)"),
    Key("mode", "graph", to_str, R, "MindSpore execution mode (pynative for debugging)", ("graph", "pynative")),
    Key("seed", 1, to_int, R, "seeds the weights, the data order and every augmentation stream"),
    Key("output_dir", "output", to_str, R, "where the run writes ckpt/, config.yaml and train.log",
        aliases=("save_checkpoint_path",)),
    Key("save_checkpoint", True, to_bool, R, "false: write no periodic checkpoints (the best one still)"),
    Key("save_checkpoint_epochs", 1, to_int, R, "write a checkpoint every N epochs (and after the last)"),
    Key("keep_checkpoint_max", 10, to_int, R, "periodic checkpoints kept in OUTPUT_DIR/ckpt"),
    Key("eval_interval", 1, to_int, R, "validate every N epochs when a validation split exists (0: never)"),
    Key("log_interval", 100, to_int, R, "a progress line every N steps (0: epoch lines only)"),
    Key("dataset_sink_mode", "auto", to_tristate, R, "feed the device through a data queue (auto: on Ascend)",
        ("auto", "true", "false")),
    Key("distribute", "auto", to_tristate, R, "auto: distributed when a launcher (msrun, mpirun, a rank table) "
                                              "started this process; true: insist on one; false: refuse one",
        ("auto", "true", "false"), aliases=("run_distribute",)),
    Key("device_num", 0, to_int, R, "the number of devices the launcher is expected to start (0: not stated); a "
                                    "different group size is an error"),
    Key("record_samples", False, to_bool, R, "each rank writes the sample indices it read, per epoch"),
    Key("resume", "", to_str, R, "continue training from this checkpoint (weights, optimizer, step, epoch)"),
    Key("checkpoint_path", "", to_str, E, "eval.py: the checkpoint to score (its model, classes and "
                                          "preprocessing come from it)", aliases=("ckpt_file", "ckpt_path",
                                                                                  "checkpoint")),
    Key("result_json", "", to_str, E, "eval.py: also write the result, with each class's accuracy, to this JSON "
                                      "file"),
    Key("confusion", "", to_str, E, "eval.py: draw the confusion matrix to this image (.png, .svg, .pdf); above 30 "
                                    "classes, a chart of the most confused pairs instead"),
    Key("confusion_top", 20, to_int, E, "eval.py: the most confused (true, predicted) pairs listed in the log"),
    Key("prediction_grid", 0, to_int, R, "train.py: at the end, draw the final network's predictions on N "
                                         "validation images to OUTPUT_DIR/predictions.png (0: none)"),
    Key("reparam", True, to_bool, E, "eval.py: fold re-parameterisable branches (GhostNetV3, RepGhost) into single "
                                     "convolutions before scoring, as deployed; no effect on other networks"),
)
KEY_BY_NAME: Dict[str, Key] = {k.name: k for k in KEYS}
ALIASES: Dict[str, str] = {alias: k.name for k in KEYS for alias in k.aliases}  # alias -> canonical key
SECTION_TITLES = {M: "model", D: "data", A: "augmentation (training only)", O: "optimisation",
                  R: "run: device, outputs, checkpoints, distribution", E: "evaluation"}
POSITIVE = ("num_classes", "image_size", "eval_resize", "batch_size", "epoch_size", "num_parallel_workers",
            "save_checkpoint_epochs", "keep_checkpoint_max", "synthetic_image_size", "synthetic_train_per_class",
            "synthetic_val_per_class", "confusion_top")
NON_NEGATIVE = ("lr_init", "lr_end", "weight_decay", "warmup_epochs", "loss_scale", "lr_power", "freeze_epochs",
                "eval_batch_size", "eval_interval", "log_interval", "color_jitter", "lr_reference_batch",
                "randaug_num_ops", "randaug_magnitude", "mixup", "cutmix", "prediction_grid")
PROBABILITIES = ("hflip", "random_erasing", "mix_prob")
COMMAND_LINE, RECIPE, DEFAULT = "command line", "recipe", "default"


class Config:
    """The effective configuration: an attribute per key, and where each value came from."""

    def __init__(self, values: Dict[str, Any], sources: Dict[str, str]):
        self.__dict__.update(values)
        self._sources = dict(sources)

    def to_dict(self) -> Dict[str, Any]:
        return {k.name: getattr(self, k.name) for k in KEYS}

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
        merged = {**self.to_dict(), **values}
        return validate(Config(merged, {**self._sources, **{k: source for k in values}}))


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


def validate(cfg: Config) -> Config:
    """Checks across keys and of ranges; ConfigError naming the key, the value and what is allowed."""
    for name in POSITIVE:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ConfigError(f"config key '{name}' must be at least 1, got {value}")
    for name in NON_NEGATIVE:
        if getattr(cfg, name) < 0:
            raise ConfigError(f"config key '{name}' must not be negative, got {getattr(cfg, name)}")
    for name in PROBABILITIES:
        if not 0 <= getattr(cfg, name) <= 1:
            raise ConfigError(f"{name} is a probability in [0, 1], got {getattr(cfg, name)}")
    if not 0 <= cfg.drop_rate < 1:
        raise ConfigError(f"drop_rate must be in [0, 1), got {cfg.drop_rate}")
    if not 0 < cfg.min_scale <= 1:
        raise ConfigError(f"min_scale must be in (0, 1], got {cfg.min_scale}")
    if cfg.lr_max <= 0:
        raise ConfigError(f"lr_max must be positive, got {cfg.lr_max}")
    if max(cfg.lr_init, cfg.lr_end) > cfg.lr_max:
        raise ConfigError(f"lr_max ({cfg.lr_max}) is the peak of the schedule, but lr_init is {cfg.lr_init} and "
                          f"lr_end {cfg.lr_end}; neither may exceed it")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {cfg.momentum}")
    if not 0 < cfg.ema_decay < 1:
        raise ConfigError(f"ema_decay must be in (0, 1), got {cfg.ema_decay}")
    if not 0 <= cfg.label_smooth_factor < 1:
        raise ConfigError(f"label_smooth_factor must be in [0, 1), got {cfg.label_smooth_factor}")
    if cfg.crop_ratio is not None and not 0 < cfg.crop_ratio[0] <= cfg.crop_ratio[1]:
        raise ConfigError(f"crop_ratio needs two values 0 < low <= high (e.g. 0.75,1.3333), got {cfg.crop_ratio}")
    if cfg.std is not None and min(cfg.std) <= 0:
        raise ConfigError(f"std values must be positive, got {cfg.std}")
    if cfg.lr_scaling == "linear" and cfg.lr_reference_batch == 0:
        raise ConfigError("lr_scaling linear needs lr_reference_batch: the global batch size the lr values were set "
                          "for (e.g. 1024 for the GhostNet recipe's 8 cards x 128)")
    if not 0 < cfg.rmsprop_decay < 1 or cfg.rmsprop_eps <= 0:
        raise ConfigError(f"rmsprop_decay must be in (0, 1) and rmsprop_eps positive, got {cfg.rmsprop_decay} and "
                          f"{cfg.rmsprop_eps}")
    if not 0 < cfg.lr_decay_rate <= 1 or cfg.lr_decay_epochs <= 0:
        raise ConfigError(f"lr_decay_rate must be in (0, 1] and lr_decay_epochs positive, got {cfg.lr_decay_rate} "
                          f"and {cfg.lr_decay_epochs}")
    if not 0 <= cfg.kd_weight <= 1 or cfg.kd_temperature <= 0:
        raise ConfigError(f"kd_weight must be in [0, 1] and kd_temperature positive, got {cfg.kd_weight} and "
                          f"{cfg.kd_temperature}")
    if cfg.kd_teacher_ckpt and not cfg.kd_teacher:
        raise ConfigError("kd_teacher_ckpt is set but kd_teacher is not: name the teacher's model with --kd_teacher")
    if cfg.warmup_epochs > cfg.epoch_size:
        raise ConfigError(f"warmup_epochs ({cfg.warmup_epochs}) exceeds epoch_size ({cfg.epoch_size})")
    return cfg


def load_yaml(path: str) -> Dict[str, Any]:
    return load_yaml_mapping(path)  # strict: duplicate keys refused, syntax errors with the line (yaml_loader.py)


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError (the entry scripts' one error path) and names unknown keys' close matches."""

    def error(self, message: str):
        raise ConfigError(message)


def build_parser(prog: str, description: str, extra: Sequence[Tuple[Sequence[str], dict]] = ()) -> _Parser:
    """The parser of every key, grouped by section, plus `--config` / `-c` and the script's own `extra` options."""
    parser = _Parser(prog=prog, description=description, allow_abbrev=False, argument_default=argparse.SUPPRESS,
                     usage="%(prog)s [-c FILE.yaml] [--KEY VALUE ...]",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Values come from the defaults, then the YAML recipe given by --config, then the command "
                            "line. Lists take comma-separated values; booleans true or false.")
    parser.add_argument("-c", "--config", "--config_path", dest="config", metavar="FILE.yaml",
                        help="YAML recipe (configs/*.yaml)")
    for flags, kwargs in extra:
        parser.add_argument(*flags, **kwargs)
    groups = {}
    for key in KEYS:
        group = groups.get(key.section) or parser.add_argument_group(SECTION_TITLES[key.section])
        groups[key.section] = group
        allowed = f"; one of {' | '.join(key.choices)}" if key.choices else ""
        default = "from the model" if key.default is None and key.section == D else key.default
        also = f"; also --{', --'.join(key.aliases)}" if key.aliases else ""
        group.add_argument(f"--{key.name}", dest=key.name, metavar=_METAVARS.get(key.type.__name__, "VALUE"),
                           help=f"{key.help}{allowed} (default: {default}{also})", type=_cli_type(key))
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
                 extra: Sequence[Tuple[Sequence[str], dict]] = ()) -> Tuple[Config, argparse.Namespace]:
    """(the effective Config, the script's own `extra` options) from `argv`."""
    parser = build_parser(prog, description, extra)
    args, rest = parser.parse_known_args(list(argv))
    for item in rest:
        if item.startswith("--"):
            raise _unknown_key(item[2:].partition("=")[0], "the command line")
        raise ConfigError(f"unexpected argument '{item}'; options are --KEY VALUE pairs (see --help)")
    given = {k: getattr(args, k) for k in KEY_BY_NAME if hasattr(args, k)}
    given.update({d[len(_ALIAS_DEST):]: v for d, v in vars(args).items() if d.startswith(_ALIAS_DEST)})
    given = merge_aliases(given, "the command line")
    values = {k.name: k.default for k in KEYS}
    sources = {k.name: DEFAULT for k in KEYS}
    recipe = getattr(args, "config", None)
    if recipe:
        for name, value in _recipe_items(recipe).items():
            values[name] = value
            sources[name] = RECIPE
    values.update(given)
    sources.update({k: COMMAND_LINE for k in given})
    own = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in KEY_BY_NAME
                                and not k.startswith(_ALIAS_DEST)})
    return validate(Config(values, sources)), own


def recipe_values(path: str, keys: Sequence[str]) -> Dict[str, Any]:
    """The values a YAML recipe gives for `keys` (checked like parse_config checks them); absent keys are left out.
    For scripts that take a recipe for a few values (export.py, eval_onnx.py)."""
    return {name: value for name, value in _recipe_items(path).items() if name in keys}


def _recipe_items(path: str) -> Dict[str, Any]:
    """The checked values of a YAML recipe, aliases replaced by their keys."""
    values = {}
    for name, value in load_yaml(path).items():
        if name not in KEY_BY_NAME and name not in ALIASES:
            raise _unknown_key(name, f"'{path}'")
        values[name] = _parse_value(KEY_BY_NAME[ALIASES.get(name, name)], value, f"'{path}'")
    return merge_aliases(values, f"'{path}'")


def save_config(cfg: Config, path: str) -> None:
    """Write the effective config as YAML (atomically)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def build_config(argv: Sequence[str]) -> Config:
    """The Config of `argv` (the keys only), for tests and tools."""
    return parse_config(argv)[0]

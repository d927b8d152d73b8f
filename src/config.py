"""Configuration: typed defaults -> YAML recipe -> command-line overrides.

Every key is a field of `Config`. An unknown key (in YAML or on the command line) is an error that names it and
the close matches. `python train.py --help` lists every key with its default.
"""
import dataclasses
import difflib
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .errors import ConfigError
from .outputs import atomic_write_text


@dataclass
class Config:
    # model
    model: str = "ghostnet_100"                 # a name from list_models()
    num_classes: int = 1000
    drop_rate: float = 0.2                      # dropout probability before the classifier
    pretrained_ckpt: str = ""                   # start from these weights (a head of another class count is replaced)
    freeze_epochs: int = 0                      # train only the classifier for the first N epochs (fine-tuning)
    freeze_bn: bool = False                     # BN uses and keeps its running statistics (small-batch fine-tuning)
    # data
    dataset: str = "imagenet"                   # imagenet | folder (class folders) | cifar10 | synthetic
    data_path: str = ""                         # root with train/ and val/, a split folder, or cifar-10-batches-bin
    image_size: int = 224                       # train crop and eval crop
    eval_resize: int = 256                      # eval: resize the short side to this, then centre-crop image_size
    min_scale: float = 0.08                     # smallest area fraction of the random resized crop
    crop_ratio: Optional[List[float]] = None    # aspect-ratio range of that crop; default 0.75,1.3333
    color_jitter: float = 0.0                   # brightness / contrast / saturation jitter (0: off)
    hflip: float = 0.5                          # horizontal flip probability
    mean: Optional[List[float]] = None          # normalisation mean (0..1); default: the data set's
    std: Optional[List[float]] = None
    auto_augment: str = "none"                 # none | randaugment | autoaugment (train only)
    randaug_num_ops: int = 2
    randaug_magnitude: int = 9
    random_erasing: float = 0.0                 # probability of erasing a random rectangle (train only)
    mixup: float = 0.0                          # mixup alpha (0: off); labels become soft targets
    cutmix: float = 0.0                         # cutmix alpha (0: off); with mixup, one of the two per batch
    mix_prob: float = 1.0                       # probability that a batch is mixed when mixup / cutmix is on
    image_check: str = "signature"              # none | signature | decode: check image files before training
    num_parallel_workers: int = 4
    batch_size: int = 128                       # per device
    eval_batch_size: int = 0                    # 0: same as batch_size
    synthetic_image_size: int = 64              # the synthetic quickstart data set
    synthetic_train_per_class: int = 300
    synthetic_val_per_class: int = 50
    # optimisation
    epoch_size: int = 90
    optimizer: str = "momentum"                 # momentum | sgd
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    filter_bias_and_bn: bool = True             # no weight decay on BN parameters and biases
    lr_decay_mode: str = "cosine"               # cosine | linear | poly | steps | constant
    lr_init: float = 0.0                        # learning rate at the start of warmup
    lr_max: float = 0.1
    lr_end: float = 0.0
    lr_power: float = 2.0                       # exponent of the poly decay
    warmup_epochs: float = 0.0
    label_smooth_factor: float = 0.1            # 0: plain cross entropy
    ema: bool = False                           # keep an exponential moving average of the weights
    ema_decay: float = 0.9999                   # validation and the best checkpoint then use the averaged weights
    amp_level: str = "auto"                     # auto (O0 on CPU, O2 on GPU, O3 on Ascend) | O0 | O2 | O3
    loss_scale: float = 1024.0                  # fixed loss scale used when amp_level is not O0
    # run
    device_target: str = "auto"                 # auto | CPU | GPU | Ascend
    device_id: int = 0
    mode: str = "graph"                         # graph | pynative
    seed: int = 1
    output_dir: str = "output"
    save_checkpoint_epochs: int = 1
    keep_checkpoint_max: int = 10
    eval_interval: int = 1                      # validate every N epochs when a val split exists (0: never)
    log_interval: int = 100                     # progress line every N steps (0: epoch lines only)
    dataset_sink_mode: str = "auto"             # auto (on for Ascend) | true | false
    distribute: str = "auto"                    # auto (under msrun, mpirun or a rank table) | true | false
    lr_scaling: str = "none"                    # none | linear: lr values x global batch / lr_reference_batch
    lr_reference_batch: int = 0                 # the global batch the recipe's lr values are for (0: not stated)
    record_samples: bool = False                # each rank writes the sample indices it read per epoch
    resume: str = ""                            # continue training from this checkpoint
    # evaluation
    checkpoint_path: str = ""                   # eval.py: the checkpoint to score
    result_json: str = ""                       # eval.py: also write the result to this JSON file

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {
    "dataset": ("imagenet", "folder", "cifar10", "synthetic"),
    "image_check": ("none", "signature", "decode"),
    "auto_augment": ("none", "randaugment", "autoaugment"),
    "optimizer": ("momentum", "sgd"),
    "lr_decay_mode": ("cosine", "linear", "poly", "steps", "constant"),
    "amp_level": ("auto", "O0", "O2", "O3"),
    "device_target": ("auto", "CPU", "GPU", "Ascend"),
    "mode": ("graph", "pynative"),
    "dataset_sink_mode": ("auto", "true", "false"),
    "distribute": ("auto", "true", "false"),
    "lr_scaling": ("none", "linear"),
}
TRISTATE = ("dataset_sink_mode", "distribute")  # auto | true | false; a YAML or CLI boolean is accepted too
POSITIVE = ("num_classes", "image_size", "batch_size", "epoch_size", "num_parallel_workers",
            "save_checkpoint_epochs", "keep_checkpoint_max")

_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _unknown_key(key: str, where: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(_FIELDS), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run with --help to list the keys"
    return ConfigError(f"unknown config key '{key}' in {where}{hint}")


def _coerce(key: str, value: Any, where: str) -> Any:
    """Check `value` against the field's type, converting strings from the command line."""
    default = _FIELDS[key].default
    annotation = _FIELDS[key].type
    annotation = annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")
    if isinstance(value, str) and where == "the command line" and not isinstance(default, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    bad = ConfigError(f"config key '{key}' in {where}: expected {annotation}, got {value!r}")
    if value is None:
        if "Optional" in annotation:
            return None
        raise bad
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise bad
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad
    if isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads "4e-5" as a string
            try:
                value = float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise bad
    if isinstance(default, str):
        if isinstance(value, (bool, str)) and key in TRISTATE:
            value = str(value).lower()
        if not isinstance(value, str):
            raise bad
        return value
    if "List[float]" in annotation:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        try:
            return [float(v) for v in value]
        except (TypeError, ValueError):
            raise bad from None
    return value


def validate(cfg: Config) -> Config:
    for key, allowed in CHOICES.items():
        if getattr(cfg, key) not in allowed:
            raise ConfigError(f"config key '{key}' is '{getattr(cfg, key)}'; expected one of {', '.join(allowed)}")
    for key in POSITIVE:
        if getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}' must be at least 1, got {getattr(cfg, key)}")
    if not 0 <= cfg.drop_rate < 1:
        raise ConfigError(f"drop_rate must be in [0, 1), got {cfg.drop_rate}")
    if not 0 < cfg.min_scale <= 1:
        raise ConfigError(f"min_scale must be in (0, 1], got {cfg.min_scale}")
    for key in ("random_erasing", "mix_prob"):
        if not 0 <= getattr(cfg, key) <= 1:
            raise ConfigError(f"{key} is a probability in [0, 1], got {getattr(cfg, key)}")
    for key in ("mixup", "cutmix"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"{key} is a Beta-distribution alpha (0: off), got {getattr(cfg, key)}")
    if not 0 < cfg.ema_decay < 1:
        raise ConfigError(f"ema_decay must be in (0, 1), got {cfg.ema_decay}")
    if not 0 <= cfg.label_smooth_factor < 1:
        raise ConfigError(f"label_smooth_factor must be in [0, 1), got {cfg.label_smooth_factor}")
    if cfg.crop_ratio is not None and (len(cfg.crop_ratio) != 2 or not 0 < cfg.crop_ratio[0] <= cfg.crop_ratio[1]):
        raise ConfigError(f"crop_ratio needs two values 0 < low <= high (e.g. 0.75,1.3333), got {cfg.crop_ratio}")
    for key in ("mean", "std"):
        if getattr(cfg, key) is not None and len(getattr(cfg, key)) != 3:
            raise ConfigError(f"{key} needs three values (R, G, B), got {getattr(cfg, key)}")
    if cfg.lr_reference_batch < 0:
        raise ConfigError(f"lr_reference_batch is a global batch size (0: not stated), got {cfg.lr_reference_batch}")
    if cfg.lr_scaling == "linear" and cfg.lr_reference_batch == 0:
        raise ConfigError("lr_scaling linear needs lr_reference_batch: the global batch size the lr values were set "
                          "for (e.g. 1024 for the GhostNet recipe's 8 cards x 128)")
    for key, value in cfg.to_dict().items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{key}' is {value}; expected a finite number")
    for key in ("lr_init", "lr_end", "weight_decay", "warmup_epochs", "loss_scale", "lr_power"):
        if getattr(cfg, key) < 0:
            raise ConfigError(f"config key '{key}' must not be negative, got {getattr(cfg, key)}")
    if cfg.lr_max <= 0:
        raise ConfigError(f"lr_max must be positive, got {cfg.lr_max}")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"momentum must be in [0, 1), got {cfg.momentum}")
    if cfg.warmup_epochs > cfg.epoch_size:
        raise ConfigError(f"warmup_epochs ({cfg.warmup_epochs}) exceeds epoch_size ({cfg.epoch_size})")
    return cfg


def load_yaml(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file '{path}' does not exist")
    with open(path) as f:
        try:
            data = yaml.safe_load(f) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"config file '{path}' is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}' must hold a mapping of keys to values")
    return data


def usage(prog: str, description: str) -> str:
    lines = [f"usage: {prog} [--config FILE.yaml] [--KEY VALUE ...]", "", description, "", "keys (default):"]
    for name, f in _FIELDS.items():
        lines.append(f"  --{name:<28} {f.default if f.default is not None else 'null'}")
    return "\n".join(lines)


def parse_cli(argv: Sequence[str]) -> Tuple[Optional[str], Dict[str, str]]:
    """Split `--config FILE` from `--key value` / `--key=value` overrides."""
    config_path, overrides = None, {}
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument '{arg}'; arguments are --KEY VALUE pairs")
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if not eq:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or (following.startswith("--") and len(following) > 2
                                      and not _is_number(following)):
                raise ConfigError(f"option '--{key}' needs a value (e.g. --{key} VALUE)"
                                  + (f"; it is followed by the option '{following}'" if following else ""))
            value = following
            i += 1
        i += 1
        if key in ("config", "config_path"):
            config_path = value
        elif key not in _FIELDS:
            raise _unknown_key(key, "the command line")
        else:
            overrides[key] = value
    return config_path, overrides


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def build_config(argv: Sequence[str]) -> Config:
    """Defaults, then the YAML given by --config, then the other command-line overrides."""
    config_path, overrides = parse_cli(argv)
    values: Dict[str, Any] = {}
    if config_path:
        for key, value in load_yaml(config_path).items():
            if key not in _FIELDS:
                raise _unknown_key(key, f"'{config_path}'")
            values[key] = _coerce(key, value, f"'{config_path}'")
    for key, value in overrides.items():
        values[key] = _coerce(key, value, "the command line")
    cfg = validate(Config(**values))
    cfg.cli_keys = frozenset(overrides)  # what the user set on the command line (not a config field)
    return cfg


def save_config(cfg: Config, path: str) -> None:
    """Write the effective config as YAML (atomically)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def wants_help(argv: Sequence[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def print_help(prog: str, description: str) -> None:
    sys.stdout.write(usage(prog, description) + "\n")

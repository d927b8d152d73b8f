"""The configuration's keys, one row each: name, default, type, section, help, allowed values, aliases (the model
zoo's and MindCV's names), the interval a number must lie in, and the entry scripts that take it. From this table
come the command-line parsers (each script's `--help` lists its own keys, grouped by section), the checking of
YAML recipes and values, and the effective config written next to the checkpoints."""
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, Optional, Tuple

from ..errors import ConfigError
from .types import (float_list, optional, to_bool, to_dataset, to_float, to_image_check, to_int, to_off, to_str,
                    to_tristate, to_upper)

MODEL, DATA, AUGMENTATION, OPTIMISATION, RUN, EVALUATION, EXPORT, PREDICTION, BENCHMARK = (
    "model", "data", "augmentation", "optimisation", "run", "evaluation", "export", "prediction", "benchmark")
SECTION_TITLES = {MODEL: "model", DATA: "data", AUGMENTATION: "augmentation (training only)",
                  OPTIMISATION: "optimisation", RUN: "run: device, outputs, checkpoints, distribution",
                  EVALUATION: "evaluation", EXPORT: "export", PREDICTION: "prediction", BENCHMARK: "benchmark"}
# the scripts that read the configuration (train.py and fine_tune.py train, eval.py and validate.py evaluate)
TRAIN, EVAL, EXPORT_SCRIPT, PREDICT, EVAL_ONNX, BENCH = "train", "eval", "export", "predict", "eval_onnx", "benchmark"
SCRIPT_NAMES = {TRAIN: "train.py / fine_tune.py", EVAL: "eval.py / validate.py", EXPORT_SCRIPT: "export.py",
                PREDICT: "predict.py", EVAL_ONNX: "eval_onnx.py", BENCH: "benchmark.py"}
SECTION_SCRIPTS = {MODEL: (TRAIN,), DATA: (TRAIN, EVAL), AUGMENTATION: (TRAIN,), OPTIMISATION: (TRAIN,),
                   RUN: (TRAIN,), EVALUATION: (EVAL,), EXPORT: (EXPORT_SCRIPT,), PREDICTION: (PREDICT,),
                   BENCHMARK: (BENCH,)}
ALL_SCRIPTS = tuple(SCRIPT_NAMES)
_INTERVAL = re.compile(r"^([\[(])(-?inf|-?[0-9.]+), (inf|[0-9.]+)([\])])$")


@dataclass(frozen=True)
class Key:
    name: str
    default: Any
    type: Callable
    section: str
    help: str
    choices: Optional[Tuple[str, ...]] = None
    aliases: Tuple[str, ...] = ()      # the model zoo's and MindCV's names for the key
    interval: str = ""                 # where a number must lie, e.g. "[0, 1)" or "[1, inf)"
    scripts: Tuple[str, ...] = ()      # the scripts that take it (default: those of its section)
    from_recipe: bool = True           # False: a recipe's value (meant for another script) does not apply

    @property
    def used_by(self) -> Tuple[str, ...]:
        return self.scripts or SECTION_SCRIPTS[self.section]

    def check_bounds(self, value: Any, where: str = "") -> None:
        """ConfigError naming the key (as `where` calls it), the value and the interval when a number lies
        outside it."""
        if not self.interval or value is None:
            return
        opening, low, high, closing = _INTERVAL.match(self.interval).groups()
        low, high = float(low), float(high)
        inside = ((value >= low if opening == "[" else value > low) and
                  (value <= high if closing == "]" else value < high))
        if inside:
            return
        name = where or self.name
        if math.isinf(high) and opening == "[" and low == 0:
            raise ConfigError(f"{name} must not be negative, got {value}")
        if math.isinf(high) and opening == "[":
            raise ConfigError(f"{name} must be at least {low:g}, got {value}")
        if math.isinf(high) and low == 0:
            raise ConfigError(f"{name} must be positive, got {value}")
        raise ConfigError(f"{name} must be in {self.interval}, got {value}")


_BOTH = (TRAIN, EVAL)
_MODEL_FILE = (EVAL, EXPORT_SCRIPT, PREDICT)       # the scripts that open a trained model
_DEVICE = (TRAIN, EVAL, EXPORT_SCRIPT, PREDICT)

KEYS: Tuple[Key, ...] = (
    # --- model
    Key("model", "ghostnet_100", to_str, MODEL, "network name (python -m src.tools.model_info lists them); a "
        "checkpoint names its own", scripts=_BOTH + (EXPORT_SCRIPT, PREDICT, BENCH)),
    Key("num_classes", 1000, to_int, MODEL, "outputs of the classifier; train.py takes it from the data when not "
        "given, eval.py and export.py from the checkpoint unless it is given on the command line",
        aliases=("class_num", "n_class"), interval="[1, inf)", scripts=_BOTH + (EXPORT_SCRIPT,)),
    Key("drop_rate", 0.2, to_float, MODEL, "dropout probability before the classifier", interval="[0, 1)"),
    Key("pretrained_ckpt", "", to_str, MODEL, "start from these weights (ours, or a model-zoo checkpoint converted "
        "on the fly); a head of another class count is replaced", aliases=("pre_trained",)),
    Key("pretrained", "", to_off, MODEL, "published weights: a tag (python -m src.tools.weights list), nothing for "
        "--model's default, or a file; command line only", scripts=_BOTH + (EXPORT_SCRIPT, PREDICT, BENCH)),
    Key("freeze_epochs", 0, to_int, MODEL, "train only the classifier for the first N epochs (fine-tuning)",
        interval="[0, inf)"),
    Key("freeze_stages", -1, to_int, MODEL, "stop gradients and BN statistics in the stem and the first N stages "
        "(0: the stem only; -1: nothing frozen)", interval="[-1, inf)"),
    Key("freeze_bn", False, to_bool, MODEL, "BN normalises with, and keeps, its running statistics (small-batch "
        "fine-tuning); gamma and beta still learn"),
    # --- data
    Key("dataset", "auto", to_dataset, DATA, "auto: follow the data path (CIFAR-10 binary batches, else class "
        "folders); imagenet (or imagenet2012): DATA/train and DATA/val class folders (or the zoo's ilsvrc / "
        "validation_preprocess); folder: class folders; cifar10: the binary batches; synthetic: the generated "
        "quickstart set (made only when no data path is given or this is asked for on the command line)",
        ("auto", "imagenet", "folder", "cifar10", "synthetic"), aliases=("dateset",), scripts=_BOTH + (EVAL_ONNX,)),
    Key("data_path", "", to_str, DATA, "data root, a split folder, or cifar-10-batches-bin (synthetic: where to "
        "generate it; default OUTPUT_DIR/data); eval.py defaults to the data recorded in the checkpoint",
        aliases=("dataset_path", "data_dir"), scripts=_BOTH + (EVAL_ONNX, BENCH)),
    Key("image_size", None, optional(to_int), DATA, "training and evaluation crop (default: the checkpoint's, else "
        "the model's input size)", interval="[1, inf)", scripts=_BOTH + (EXPORT_SCRIPT, EVAL_ONNX, BENCH)),
    Key("eval_resize", None, optional(to_int), DATA, "evaluation resizes the short side to this, then centre-crops "
        "image_size (default: image_size over the model's crop fraction)", interval="[1, inf)",
        scripts=_BOTH + (EVAL_ONNX,)),
    Key("interpolation", None, optional(to_str), DATA, "resize interpolation (default: the model's)",
        ("bilinear", "bicubic", "nearest", "area"), scripts=_BOTH + (EVAL_ONNX,)),
    Key("mean", None, float_list(3), DATA, "normalisation mean of 0..1 RGB values, e.g. 0.485,0.456,0.406 "
        "(default: CIFAR-10's for cifar10, else the model's)", scripts=_BOTH + (EVAL_ONNX,)),
    Key("std", None, float_list(3), DATA, "normalisation standard deviation, three values (default as for mean)",
        scripts=_BOTH + (EVAL_ONNX,)),
    Key("image_check", "structure", to_image_check, DATA, "how image files are checked before they are read: "
        "structure (headers, tables and end marker, tens of microseconds a file; refuses the truncated or damaged "
        "files that crash MindSpore's decoder; signature is another name for it), decode (the structure check, then "
        "a full decode of every file with Pillow), none (no check: a truncated or damaged JPEG can kill the process "
        "inside MindSpore's decoder with SIGFPE or SIGSEGV and no message, or hang it; use only on data checked "
        "before, e.g. with python -m src.tools.check_images)", ("none", "structure", "decode"),
        scripts=_BOTH + (PREDICT, EVAL_ONNX)),
    Key("num_parallel_workers", 4, to_int, DATA, "data-pipeline workers (capped at the CPU count)",
        interval="[1, inf)"),
    Key("batch_size", 128, to_int, DATA, "images per step and device", interval="[1, inf)",
        scripts=ALL_SCRIPTS),
    Key("eval_batch_size", 0, to_int, DATA, "evaluation batch (0: batch_size)", interval="[0, inf)"),
    Key("synthetic_image_size", 64, to_int, DATA, "side of the generated quickstart images", interval="[1, inf)"),
    Key("synthetic_train_per_class", 300, to_int, DATA, "generated training images per class",
        interval="[1, inf)"),
    Key("synthetic_val_per_class", 50, to_int, DATA, "generated validation images per class", interval="[1, inf)"),
    # --- augmentation
    Key("min_scale", 0.08, to_float, AUGMENTATION, "smallest area fraction of the random resized crop",
        interval="(0, 1]"),
    Key("crop_ratio", None, float_list(2), AUGMENTATION, "aspect-ratio range LOW,HIGH of that crop "
        "(default 0.75,1.3333)"),
    Key("color_jitter", 0.0, to_float, AUGMENTATION, "brightness / contrast / saturation jitter (0: off)",
        interval="[0, inf)"),
    Key("hflip", 0.5, to_float, AUGMENTATION, "horizontal flip probability", interval="[0, 1]"),
    Key("auto_augment", "none", to_str, AUGMENTATION, "automatic augmentation policy",
        ("none", "randaugment", "autoaugment")),
    Key("randaug_num_ops", 2, to_int, AUGMENTATION, "RandAugment: operations per image", interval="[0, inf)"),
    Key("randaug_magnitude", 9, to_int, AUGMENTATION, "RandAugment: magnitude", interval="[0, 30]"),
    Key("random_erasing", 0.0, to_float, AUGMENTATION, "probability of erasing a random rectangle",
        interval="[0, 1]"),
    Key("mixup", 0.0, to_float, AUGMENTATION, "mixup Beta alpha (0: off); labels become soft targets",
        interval="[0, inf)"),
    Key("cutmix", 0.0, to_float, AUGMENTATION, "cutmix Beta alpha (0: off); with mixup, one of the two per batch",
        interval="[0, inf)"),
    Key("mix_prob", 1.0, to_float, AUGMENTATION, "probability that a batch is mixed when mixup / cutmix is on",
        interval="[0, 1]"),
    # --- optimisation
    Key("epoch_size", 90, to_int, OPTIMISATION, "epochs to train", interval="[1, inf)"),
    Key("optimizer", "momentum", to_str, OPTIMISATION, "optimizer (rmsproptf: TensorFlow's RMSProp, timm's "
        "RMSpropTF)", ("momentum", "sgd", "rmsproptf")),
    Key("momentum", 0.9, to_float, OPTIMISATION, "momentum", interval="[0, 1)"),
    Key("rmsprop_decay", 0.9, to_float, OPTIMISATION, "rmsproptf: decay of the mean square of the gradients",
        interval="(0, 1)"),
    Key("rmsprop_eps", 1e-3, to_float, OPTIMISATION, "rmsproptf: epsilon, added inside the square root",
        interval="(0, inf)"),
    Key("nesterov", False, to_bool, OPTIMISATION, "Nesterov momentum"),
    Key("weight_decay", 1e-4, to_float, OPTIMISATION, "weight decay (L2)", interval="[0, inf)"),
    Key("filter_bias_and_bn", True, to_bool, OPTIMISATION, "no weight decay on BN parameters and biases"),
    Key("lr_decay_mode", "cosine", to_str, OPTIMISATION, "decay after the warmup (staircase: lr_max x "
        "lr_decay_rate every lr_decay_epochs epochs)", ("cosine", "linear", "poly", "steps", "staircase", "constant"),
        aliases=("decay_mode",)),
    Key("lr_decay_rate", 0.973, to_float, OPTIMISATION, "staircase decay: the factor per period",
        interval="(0, 1]"),
    Key("lr_decay_epochs", 2.4, to_float, OPTIMISATION, "staircase decay: the period in epochs (fractions allowed)",
        interval="(0, inf)"),
    Key("lr_init", 0.0, to_float, OPTIMISATION, "learning rate at the start of the warmup", interval="[0, inf)"),
    Key("lr_max", 0.1, to_float, OPTIMISATION, "peak learning rate (after the warmup)", aliases=("lr",),
        interval="(0, inf)"),
    Key("lr_end", 0.0, to_float, OPTIMISATION, "learning rate at the end", interval="[0, inf)"),
    Key("lr_power", 2.0, to_float, OPTIMISATION, "exponent of the poly decay", interval="[0, inf)"),
    Key("warmup_epochs", 0.0, to_float, OPTIMISATION, "linear warmup length in epochs (fractions allowed)",
        interval="[0, inf)"),
    Key("lr_scaling", "none", to_str, OPTIMISATION, "linear: multiply the lr values by global batch / "
        "lr_reference_batch", ("none", "linear")),
    Key("lr_reference_batch", 0, to_int, OPTIMISATION, "the global batch the recipe's lr values are for (0: not "
        "stated)", interval="[0, inf)"),
    Key("label_smooth_factor", 0.1, to_float, OPTIMISATION, "label smoothing of the cross entropy; 0: plain",
        aliases=("label_smooth",), interval="[0, 1)"),
    Key("use_label_smooth", True, to_bool, OPTIMISATION, "false: plain cross entropy whatever label_smooth_factor "
        "says (the model zoo's switch)"),
    Key("kd_teacher", "", to_str, OPTIMISATION, "knowledge distillation: a registered model whose logits the "
        "student learns from (empty: no distillation); needs kd_teacher_ckpt"),
    Key("kd_teacher_ckpt", "", to_str, OPTIMISATION, "knowledge distillation: the teacher's trained checkpoint "
        "(same classes)"),
    Key("kd_weight", 0.5, to_float, OPTIMISATION, "knowledge distillation: loss = (1 - w) x label loss + w x T^2 x "
        "KL(teacher || student at temperature T)", interval="[0, 1]"),
    Key("kd_temperature", 1.0, to_float, OPTIMISATION, "knowledge distillation: the softmax temperature T",
        interval="(0, inf)"),
    Key("ema", False, to_bool, OPTIMISATION, "keep an exponential moving average of the weights (validation and "
        "the best checkpoint then use it)"),
    Key("ema_decay", 0.9999, to_float, OPTIMISATION, "EMA decay", interval="(0, 1)"),
    Key("amp_level", "auto", to_str, OPTIMISATION, "mixed precision (auto: O0 on CPU, O2 on GPU, O3 on Ascend)",
        ("auto", "O0", "O2", "O3"), scripts=(TRAIN, BENCH)),
    Key("loss_scale", 1024.0, to_float, OPTIMISATION, "fixed loss scale used when amp_level is not O0",
        interval="[0, inf)"),
    # --- run
    Key("device_target", "auto", to_str, RUN, "device (auto: the one MindSpore was installed for)",
        ("auto", "CPU", "GPU", "Ascend"), scripts=ALL_SCRIPTS),
    Key("device_id", 0, to_int, RUN, "device index (a launcher's DEVICE_ID wins unless given on the command line)",
        scripts=_BOTH + (EXPORT_SCRIPT,)),
    Key("mode", "graph", to_str, RUN, "MindSpore execution mode (pynative for debugging)", ("graph", "pynative"),
        scripts=_BOTH + (PREDICT,)),
    Key("seed", 1, to_int, RUN, "seeds the weights, the data order and every augmentation stream", scripts=_BOTH),
    Key("output_dir", "output", to_str, RUN, "where the run writes ckpt/, config.yaml and train.log (eval.py: where "
        "a generated data set goes)", aliases=("save_checkpoint_path",), scripts=_BOTH),
    Key("save_checkpoint", True, to_bool, RUN, "false: write no periodic checkpoints (the best one still)"),
    Key("save_checkpoint_epochs", 1, to_int, RUN, "write a checkpoint every N epochs (and after the last)",
        interval="[1, inf)"),
    Key("keep_checkpoint_max", 10, to_int, RUN, "periodic checkpoints kept in OUTPUT_DIR/ckpt", interval="[1, inf)"),
    Key("eval_interval", 1, to_int, RUN, "validate every N epochs when a validation split exists (0: never)",
        interval="[0, inf)"),
    Key("log_interval", 100, to_int, RUN, "a progress line every N steps (0: epoch lines only)", interval="[0, inf)"),
    Key("dataset_sink_mode", "auto", to_tristate, RUN, "feed the device through a data queue (auto: on Ascend)",
        ("auto", "true", "false")),
    Key("distribute", "auto", to_tristate, RUN, "auto: distributed when a launcher (msrun, mpirun, a rank table) "
        "started this process; true: insist on one; false: refuse one", ("auto", "true", "false"),
        aliases=("run_distribute",), scripts=_BOTH),
    Key("device_num", 0, to_int, RUN, "the number of devices the launcher is expected to start (0: not stated); a "
        "different group size is an error", interval="[0, inf)"),
    Key("record_samples", False, to_bool, RUN, "each rank writes the sample indices it read, per epoch"),
    Key("resume", "", to_str, RUN, "continue training from this checkpoint (weights, optimizer, step, epoch)"),
    Key("overwrite", False, to_bool, RUN, "true: a new run into an output_dir holding an earlier run's checkpoints "
        "and summary removes them (false: refused)"),
    Key("prediction_grid", 0, to_int, RUN, "at the end, draw the final network's predictions on N validation "
        "images to OUTPUT_DIR/predictions.png (0: none)", interval="[0, inf)"),
    # --- evaluation, export, prediction: opening a trained model
    Key("checkpoint_path", "", to_str, EVALUATION, "the checkpoint to open (its model, classes and preprocessing "
        "come from it); predict.py also takes an exported .onnx or .mindir file; benchmark.py times the network it "
        "holds", aliases=("ckpt_file", "ckpt_path", "checkpoint", "model_path"), scripts=_MODEL_FILE + (BENCH,)),
    Key("reparam", True, to_bool, EVALUATION, "fold re-parameterisable branches (GhostNetV3, RepGhost) into single "
        "convolutions first, as deployed; no effect on other networks", scripts=(EVAL, EXPORT_SCRIPT)),
    Key("result_json", "", to_str, EVALUATION, "also write the result, with each class's accuracy, to this JSON "
        "file", scripts=(EVAL, EVAL_ONNX)),
    Key("confusion", "", to_str, EVALUATION, "draw the confusion matrix to this image (.png, .svg, .pdf); above 30 "
        "classes, a chart of the most confused pairs instead"),
    Key("confusion_top", 20, to_int, EVALUATION, "the most confused (true, predicted) pairs listed in the log",
        interval="[1, inf)"),
    Key("onnx_path", "", to_str, EVALUATION, "the ONNX file to score", scripts=(EVAL_ONNX,)),
    Key("file_format", "MINDIR", to_upper, EXPORT, "the exported file's format (AIR needs Ascend)",
        ("MINDIR", "ONNX", "AIR")),
    Key("file_name", "", to_str, EXPORT, "output path; the format's suffix is added (default: the model's name)"),
    Key("top_k", 5, to_int, PREDICTION, "classes shown per image", interval="[1, inf)"),
    Key("output", "", to_str, PREDICTION, "also write the predictions to a .csv or .json file"),
    Key("grid", "", to_str, PREDICTION, "draw the images with their top-1 label to this image (.png)"),
    Key("grid_max", 48, to_int, PREDICTION, "images on the grid at most (spread over the true classes)",
        interval="[1, inf)"),
    # --- benchmark.py
    Key("bench", "both", to_str, BENCHMARK, "what to time (both: infer and train; data: the input pipelines)",
        ("infer", "train", "both", "data")),
    Key("model_list", "", to_str, BENCHMARK, "a text file with one model name or pattern per line"),
    Key("warmup", 3, to_int, BENCHMARK, "untimed steps after the first (compiling) one", interval="[0, inf)"),
    Key("iters", 10, to_int, BENCHMARK, "timed steps; img/s and ms/step come from their median",
        interval="[1, inf)"),
    Key("repeats", 1, to_int, BENCHMARK, "runs of every measurement, each in a fresh process, alternating ours and "
        "the reference; the table shows medians and every run's img/s", interval="[1, inf)"),
    Key("num_threads", 0, to_int, BENCHMARK, "CPU threads of MindSpore's kernels, PyTorch and onnxruntime (0: the "
        "cores available)", interval="[0, inf)"),
    Key("reference", "none", to_str, BENCHMARK, "also run timm + PyTorch doing the same work, and print the ratios",
        ("none", "timm")),
    Key("reference_map", "", to_str, BENCHMARK, "OURS=TIMM pairs (comma-separated) overriding or adding reference "
        "networks"),
    Key("reference_onednn_isa", "", to_str, BENCHMARK, "ONEDNN_MAX_CPU_ISA for the PyTorch processes (default: "
        "the environment's own, else oneDNN's choice: not the AVX2 cap the package sets for ours)"),
    Key("backend", "mindspore", to_str, BENCHMARK, "onnxruntime: time the exported ONNX file instead (inference "
        "only)", ("mindspore", "onnxruntime")),
    Key("results_file", "", to_str, BENCHMARK, "also write the results to this CSV file"),
    Key("data_image_size", 320, to_int, BENCHMARK, "--bench data: side of the generated JPEGs",
        interval="[16, inf)"),
    Key("data_images", 512, to_int, BENCHMARK, "--bench data: generated JPEGs per split", interval="[1, inf)"),
    Key("num_workers", 0, to_int, BENCHMARK, "--bench data: pipeline workers (0: the cores)", interval="[0, inf)"),
    Key("baseline", "", to_str, BENCHMARK, "another checkout of this repository (e.g. `git worktree add "
        "/tmp/before COMMIT`): run the same measurements with its code, alternating with ours, and print the ratios"),
    Key("timeout", 0.0, to_float, BENCHMARK, "seconds one measurement may take (0: no limit)", interval="[0, inf)"),
)
KEY_BY_NAME: Dict[str, Key] = {k.name: k for k in KEYS}
# keys whose default, interval or help differ in one script; where the key means another thing there (the exported
# graph's batch is not the training batch), a recipe's value does not apply (from_recipe=False)
SCRIPT_VARIANTS: Dict[str, Dict[str, dict]] = {
    EXPORT_SCRIPT: {"batch_size": dict(default=1, interval="[0, inf)", from_recipe=False,
                                       help="input batch size of the exported graph; 0 for a dynamic batch"),
                    "device_target": dict(help="where MindSpore builds the graph (AIR needs Ascend)")},
    PREDICT: {"batch_size": dict(default=32, from_recipe=False, help="images per inference batch")},
    BENCH: {"model": dict(default="", help="model names or shell patterns, comma-separated (e.g. 'ghostnet_*'; "
                                           "default: one per family)"),
            "batch_size": dict(default=32, from_recipe=False),
            "image_size": dict(default=224, from_recipe=False, help="input height and width"),
            "amp_level": dict(default="O0", choices=("O0", "O1", "O2", "O3")),
            "data_path": dict(help="--bench data: a folder with train/ and val/ class folders of images (default: "
                                   "generate JPEGs into a temporary folder)")},
    EVAL_ONNX: {"batch_size": dict(default=32, from_recipe=False, help="images per onnxruntime batch"),
                "device_target": dict(default="CPU", choices=("auto", "CPU", "GPU"),
                                      help="onnxruntime's execution provider (auto: CPU)")},
}


def keys_of(script: str) -> Tuple[Key, ...]:
    """The keys `script` takes, in table order, with that script's variants applied."""
    variants = SCRIPT_VARIANTS.get(script, {})
    return tuple(replace(k, **variants.get(k.name, {})) for k in KEYS if script in k.used_by)
ALIASES: Dict[str, str] = {alias: k.name for k in KEYS for alias in k.aliases}  # alias -> canonical key
for _key in KEYS:  # a malformed interval would only show when a value is out of range
    assert not _key.interval or _INTERVAL.match(_key.interval), _key.name

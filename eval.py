"""Evaluate a checkpoint: `python eval.py --checkpoint_path CKPT [--data_path DIR] [--config configs/X.yaml]`.

The checkpoint names its model, class count, class names, preprocessing and the data it was trained on (checkpoints
without that record, such as the model zoo's, are recognised by their parameter names); a command-line value
overrides what it records. Prints the model zoo's line `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...}
ckpt=...` over every image of the validation split (under a launcher, each rank scores its share and the result
covers all). `--confusion FILE.png` draws the confusion matrix (for many classes, the most confused pairs) and
`--result_json` records each class's accuracy too; the most confused pairs are listed in the log.
"""
import os
import sys
from typing import Dict

from src.cli import run_main
from src.config import EVAL, parse_config
from src.data import create_split_loader, open_split, pipeline_errors, resolve_data_path, resolve_dataset
from src.data.preprocessing import PREPROCESSING_KEYS
from src.engine.checkpoint import open_checkpoint
from src.engine.evaluation import (ConfusionAccumulator, confusion_details, evaluate, format_confused,
                                   format_result, write_result_json)
from src.errors import ConfigError, DataError
from src.loading import class_names, log_deployed, ready_network, resolve_opened_preprocessing
from src.models import check_model_name
from src.outputs import check_output_file
from src.plots import check_figure_path, draw_confusion
from src.progress import Progress
from src.runtime import LOG, setup_logging, setup_runtime
from src.weights.cli import expand_pretrained

PROG = "eval.py"
DESCRIPTION = ("Score a checkpoint (top-1 / top-5) over every image of the validation split; the model, classes "
               "and preprocessing come from the checkpoint.")


FOLDER_DATA = "dataset"  # ./dataset/train and ./dataset/test beside the seeds' scripts


def data_for(cfg, record):
    """(data-set kind, data path): the command line's or the recipe's path, else the data the checkpoint records
    (an error when that is gone), else ./dataset when it has a test/ split."""
    data_path = cfg.data_path
    if not data_path and (record is None or not record.data_path) and os.path.isdir(os.path.join(FOLDER_DATA, "test")):
        data_path = FOLDER_DATA  # the model zoo's fine-tuning layout, as fine_tune.py reads it
        LOG.info(f"data: ./{FOLDER_DATA}/test (the checkpoint records no data)")
    if not data_path:
        if record is None or not record.data_path:
            raise ConfigError("no data path given and the checkpoint records none: pass --data_path DIR")
        if not os.path.exists(record.data_path):
            raise FileNotFoundError(f"the data the checkpoint was trained on, '{record.data_path}', no longer "
                                    f"exists: pass --data_path DIR")
        data_path = record.data_path
        LOG.info(f"data: {data_path} (recorded in the checkpoint)")
        if cfg.source("dataset") == "default" and record.dataset:
            # a generated set is read as the class folders it is: evaluation never regenerates data
            return ("imagenet" if record.dataset == "synthetic" else record.dataset), data_path
    if not os.path.exists(data_path):
        raise FileNotFoundError(f"data path '{data_path}' does not exist")
    dataset = cfg.dataset
    if dataset == "synthetic" and not cfg.from_command_line("dataset"):
        dataset = "auto"  # the recipe's generated data set: read what is at the path
    return resolve_dataset(dataset, data_path, cfg.from_command_line("dataset")), data_path


def evaluate_checkpoint(cfg) -> Dict[str, float]:
    """Load `cfg.checkpoint_path`, score the validation split, print the result line."""
    if not cfg.checkpoint_path:
        raise ConfigError("no checkpoint given: pass --checkpoint_path FILE.ckpt")
    if cfg.from_command_line("model"):
        check_model_name(cfg.model)  # before joining a group: under msrun the scheduler process fails on it too
    if cfg.confusion:
        check_figure_path(cfg.confusion, "--confusion")
    if cfg.result_json:
        check_output_file(cfg.result_json, "--result_json")
    runtime = setup_runtime(cfg.device_target, cfg.device_id, cfg.mode, cfg.seed, cfg.distribute,
                            device_id_given=cfg.from_command_line("device_id"))
    setup_logging()
    net, source = _open(cfg)
    result, confusion = _score(cfg, runtime, net, source)
    _report(cfg, runtime, net.opened.model, source, result, confusion)
    return result


def _open(cfg):
    """(the checkpoint's network, deployed; the validation split it is scored on)."""
    opened = open_checkpoint(cfg.checkpoint_path, cfg.model if cfg.from_command_line("model") else None,
                             cfg.num_classes if cfg.from_command_line("num_classes") else None)
    LOG.info(f"checkpoint {cfg.checkpoint_path}: {opened.model}, {opened.num_classes} classes ({opened.how})")
    if cfg.source("model") == "recipe" and cfg.model != opened.model:
        LOG.info(f"note: the recipe's model {cfg.model} is not used; the checkpoint holds a {opened.model}")
    record = opened.record
    dataset, data_path = data_for(cfg, record)
    keys = PREPROCESSING_KEYS
    preprocessing = resolve_opened_preprocessing(opened, cfg.set_by("command line", keys), cfg.set_by("recipe", keys),
                                                 dataset)
    net = ready_network(opened, preprocessing, reparameterize=cfg.reparam)
    log_deployed(net)
    root = resolve_data_path(dataset, data_path, cfg.output_dir, opened.num_classes, cfg.seed,
                             cfg.synthetic_image_size, cfg.synthetic_train_per_class, cfg.synthetic_val_per_class)
    known = record.classes if record is not None and record.classes and dataset != "cifar10" else None
    source = open_split(root, "val", dataset, cfg.image_check, classes=known, classes_from="the checkpoint")
    if source is None:
        raise DataError(f"no validation split in '{root}': expected val/ (or validation_preprocess/) or class "
                        f"folders given directly")
    if known is None and source.kind == "folder" and source.num_classes != opened.num_classes:
        LOG.warning(f"warning: the checkpoint records no class names, so labels follow the {source.num_classes} "
                    f"folders' sorted order; for its {opened.num_classes} outputs that is right only if they are "
                    f"its first classes, in its order")
    return net, source


def _score(cfg, runtime, net, source):
    """(the result over every image of `source`, the confusion matrix when one is asked for)."""
    loader = create_split_loader(source, net.preprocessing, training=False,
                                 batch_size=cfg.eval_batch_size or cfg.batch_size, num_shards=runtime.group_size,
                                 shard_id=runtime.rank, num_parallel_workers=cfg.num_parallel_workers)
    if runtime.distributed:
        LOG.info(f"rank {runtime.rank} of {runtime.group_size}: scoring {loader.num_samples} of {loader.total} "
                 f"images")
    confusion = (ConfusionAccumulator(max(net.opened.num_classes, source.num_classes))
                 if cfg.confusion or cfg.result_json else None)
    progress = Progress(loader.num_samples, "eval", "img") if runtime.is_main else None  # rank 0's shard
    try:
        with pipeline_errors():
            result = evaluate(net, loader.dataset, runtime.sum_across_ranks if runtime.distributed else None,
                              [confusion] if confusion else [], progress.update if progress else None)
    finally:
        if progress is not None:
            progress.close()
    if result["num_samples"] != loader.total:
        raise RuntimeError(f"scored {result['num_samples']} images but the split has {loader.total}")
    LOG.info(format_result(result, cfg.checkpoint_path))
    return result, confusion


def _report(cfg, runtime, model: str, source, result, confusion) -> None:
    """The most confused pairs in the log, the confusion picture and the result JSON, as asked."""
    details = {}
    if confusion is not None:
        classes = class_names(source.classes, confusion.num_classes)  # the labels follow the folders' order
        pairs = confusion.most_confused(cfg.confusion_top)
        for line in format_confused(pairs, classes):
            LOG.info(line)
        details = confusion_details(confusion, classes, pairs)
        if cfg.confusion and runtime.is_main:
            where = os.path.join(*source.root.split(os.sep)[-2:])  # the title's width is that of the matrix
            title = (f"{model} on {where}: top-1 {result['top_1_accuracy']:.4f} over "
                     f"{result['num_samples']} images")
            LOG.info(f"confusion: {draw_confusion(confusion.matrix, classes, cfg.confusion, pairs, title)}")
    if cfg.result_json and runtime.is_main:
        write_result_json(result, cfg.result_json, checkpoint=cfg.checkpoint_path, model=model,
                          data_path=source.root, **details)


def main(argv=None) -> int:
    def body(parsed) -> int:
        evaluate_checkpoint(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(expand_pretrained(args, "--checkpoint_path"), PROG, DESCRIPTION,
                                                    script=EVAL), body, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Evaluation of a checkpoint as eval.py runs it."""
from typing import Dict

from .checkpoint import load_weights, read_checkpoint, split_training_state
from .data import create_dataset, pipeline_errors, prepare_data_path
from .errors import DataError
from .evaluation import evaluate, format_result, write_result_json
from .models import check_model_name, create_model
from .runtime import LOG, setup_logging, setup_runtime


def run_evaluation(cfg) -> Dict[str, float]:
    """Load `cfg.checkpoint_path` into `cfg.model`, score the validation split, print the result line."""
    check_model_name(cfg.model)  # before joining a group: under msrun the scheduler process fails on it too
    runtime = setup_runtime(cfg)
    setup_logging()
    params, _ = split_training_state(read_checkpoint(cfg.checkpoint_path))
    if "num_classes" not in getattr(cfg, "cli_keys", ()) and "classifier.weight" in params:
        # not given on the command line: the checkpoint's head knows (e.g. a fine-tuned 5-class model)
        cfg.num_classes = int(params["classifier.weight"].shape[0])
    net = create_model(cfg.model, num_classes=cfg.num_classes, drop_rate=cfg.drop_rate,
                       image_size=cfg.image_size)
    load_weights(net, cfg.checkpoint_path)
    data_root = prepare_data_path(cfg)
    val = create_dataset(cfg, "val", data_root, runtime.group_size, runtime.rank)
    if val is None:
        raise DataError(f"no validation split in '{data_root}': expected val/ (or validation_preprocess/) or "
                        f"class folders given directly")
    if runtime.distributed:
        LOG.info(f"rank {runtime.rank} of {runtime.group_size}: scoring {val.num_samples} of {val.total} images")
    with pipeline_errors():
        result = evaluate(net, val.dataset, runtime.sum_across_ranks if runtime.distributed else None)
    if result["num_samples"] != val.total:
        raise RuntimeError(f"scored {result['num_samples']} images but the split has {val.total}")
    LOG.info(format_result(result, cfg.checkpoint_path))
    if cfg.result_json and runtime.is_main:
        write_result_json(result, cfg.result_json, checkpoint=cfg.checkpoint_path, model=cfg.model,
                          data_path=val.root)
    return result

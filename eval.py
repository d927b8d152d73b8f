"""Evaluate a checkpoint: `python eval.py --config configs/X.yaml --data_path DIR --checkpoint_path CKPT`.

Prints the model zoo's line `result: {'top_1_accuracy': ..., 'top_5_accuracy': ...} ckpt=...` over every image of the
validation split (under a launcher, each rank scores its share and the result covers all).
"""
import sys
from typing import Dict

from src.cli import run_main
from src.config import parse_config
from src.data import create_split_loader, open_split, pipeline_errors, resolve_data_path
from src.data.preprocessing import resolve_preprocessing
from src.deploy import head_classes
from src.engine.checkpoint import load_weights, read_checkpoint, split_training_state
from src.engine.evaluation import evaluate, format_result, write_result_json
from src.errors import DataError
from src.models import check_model_name, create_model, get_default_cfg, prepare_for_inference
from src.runtime import LOG, setup_logging, setup_runtime

PROG = "eval.py"
DESCRIPTION = "Score a checkpoint (top-1 / top-5) over every image of the validation split."


def evaluate_checkpoint(cfg) -> Dict[str, float]:
    """Load `cfg.checkpoint_path` into `cfg.model`, score the validation split, print the result line."""
    check_model_name(cfg.model)  # before joining a group: under msrun the scheduler process fails on it too
    runtime = setup_runtime(cfg.device_target, cfg.device_id, cfg.mode, cfg.seed, cfg.distribute,
                            device_id_given=cfg.from_command_line("device_id"))
    setup_logging()
    default_cfg = get_default_cfg(cfg.model)
    params, _ = split_training_state(read_checkpoint(cfg.checkpoint_path))
    num_classes = cfg.num_classes
    if not cfg.from_command_line("num_classes") and f"{default_cfg.classifier}.weight" in params:
        num_classes = head_classes(params, default_cfg.classifier)  # e.g. a fine-tuned 5-class model
    preprocessing = resolve_preprocessing(default_cfg, dataset=cfg.dataset, image_size=cfg.image_size,
                                          eval_resize=cfg.eval_resize, interpolation=cfg.interpolation,
                                          mean=cfg.mean, std=cfg.std)
    net = create_model(cfg.model, num_classes=num_classes, drop_rate=cfg.drop_rate,
                       image_size=preprocessing.image_size)
    load_weights(net, cfg.checkpoint_path)
    prepare_for_inference(net)  # BatchNorms folded into the convolutions (src/models/fuse.py)
    root = resolve_data_path(cfg.dataset, cfg.data_path, cfg.output_dir, num_classes, cfg.seed,
                             cfg.synthetic_image_size, cfg.synthetic_train_per_class, cfg.synthetic_val_per_class)
    source = open_split(root, "val", cfg.dataset, cfg.image_check)
    if source is None:
        raise DataError(f"no validation split in '{root}': expected val/ (or validation_preprocess/) or class "
                        f"folders given directly")
    loader = create_split_loader(source, preprocessing, training=False,
                                 batch_size=cfg.eval_batch_size or cfg.batch_size, num_shards=runtime.group_size,
                                 shard_id=runtime.rank, num_parallel_workers=cfg.num_parallel_workers)
    if runtime.distributed:
        LOG.info(f"rank {runtime.rank} of {runtime.group_size}: scoring {loader.num_samples} of {loader.total} "
                 f"images")
    with pipeline_errors():
        result = evaluate(net, loader.dataset, runtime.sum_across_ranks if runtime.distributed else None)
    if result["num_samples"] != loader.total:
        raise RuntimeError(f"scored {result['num_samples']} images but the split has {loader.total}")
    LOG.info(format_result(result, cfg.checkpoint_path))
    if cfg.result_json and runtime.is_main:
        write_result_json(result, cfg.result_json, checkpoint=cfg.checkpoint_path, model=cfg.model,
                          data_path=source.root)
    return result


def main(argv=None) -> int:
    def body(parsed) -> int:
        evaluate_checkpoint(parsed[0])
        return 0
    return run_main(PROG, lambda args: parse_config(args, PROG, DESCRIPTION), body, argv)


if __name__ == "__main__":
    sys.exit(main())

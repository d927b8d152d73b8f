"""Top-1 / top-5 of an ONNX file over an image folder, with exactly the preprocessing of eval.py.

    python eval_onnx.py --onnx_path FILE.onnx [--data_path DIR] [--config configs/X.yaml] [--batch_size 32]
                        [--device_target CPU|GPU]

The preprocessing comes from the model record export.py writes into the file (a recipe fills in what a file
without one lacks); without --data_path the data the record names is scored. Prints the same
`result: {...} ckpt=FILE.onnx` line as eval.py. A file exported with a fixed batch size is fed batches of that
size, the last one padded (the padding's outputs are dropped).
"""
import os
import sys
from typing import Dict, Mapping, Optional

import numpy as np

from src.cli import run_main
from src.config import EVAL_ONNX, parse_config
from src.data import create_split_loader, open_split, pipeline_errors, resolve_dataset
from src.data.preprocessing import PREPROCESSING_KEYS, resolve_preprocessing
from src.deploy import onnx_session, predict_batches, read_file_record
from src.engine.evaluation import TopKAccumulator, format_result, write_result_json
from src.errors import ConfigError, DataError
from src.models import DefaultCfg, get_default_cfg
from src.progress import Progress
from src.runtime import LOG, setup_logging

PROG = "eval_onnx.py"
DESCRIPTION = "Score an ONNX file on an image folder."


def evaluate_onnx(onnx_path: str, data_path: str, recipe: Optional[Mapping] = None, batch_size: int = 32,
                  device_target: str = "CPU", result_json: str = "",
                  overrides: Optional[Mapping] = None) -> Dict[str, float]:
    """Score `onnx_path` over the validation split of `data_path` (default: the data its record names).
    Preprocessing: `overrides`, then the file's record, then `recipe` (which may also name the model and the data
    set kind)."""
    if not onnx_path:
        raise ConfigError("no ONNX file given: pass --onnx_path FILE.onnx")
    setup_logging()
    session = onnx_session(onnx_path, device_target)
    shape = session.get_inputs()[0].shape
    record = read_file_record(onnx_path)
    recipe = dict(recipe or {})
    if not data_path:
        if record is None or not record.data_path:
            raise ConfigError(f"no data path given and '{onnx_path}' records none: pass --data_path DIR")
        if not os.path.exists(record.data_path):
            raise FileNotFoundError(f"the data '{onnx_path}' records, '{record.data_path}', no longer exists: pass "
                                    f"--data_path DIR")
        data_path = record.data_path
    dataset = resolve_dataset((overrides or {}).get("dataset") or recipe.get("dataset", "auto"), data_path)
    model = record.model if record else recipe.get("model")
    default_cfg = get_default_cfg(model) if model else DefaultCfg()
    preprocessing = resolve_preprocessing(default_cfg, overrides, record.preprocessing.to_dict() if record else None,
                                          {k: v for k, v in recipe.items() if k in PREPROCESSING_KEYS},
                                          dataset=dataset)
    if isinstance(shape[2], int) and shape[2] != preprocessing.image_size:
        raise ConfigError(f"'{onnx_path}' takes {shape[2]}x{shape[3]} inputs but the eval preprocessing crops "
                          f"{preprocessing.image_size}x{preprocessing.image_size}; the file records no "
                          f"preprocessing: pass the recipe used for export with --config")
    source = open_split(data_path, "val", dataset)
    if source is None:
        raise DataError(f"no validation split in '{data_path}'")
    loader = create_split_loader(source, preprocessing, training=False, batch_size=batch_size)
    acc = TopKAccumulator()
    with pipeline_errors(), Progress(loader.num_samples, "eval_onnx", "img") as progress:
        for images, labels in loader.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            acc.update(predict_batches(session, images.astype(np.float32)), labels)
            progress.update(len(labels))
    result = acc.result()
    LOG.info(format_result(result, onnx_path))
    if result_json:
        write_result_json(result, result_json, checkpoint=onnx_path, data_path=source.root)
    return result


def main(argv=None) -> int:
    def body(parsed) -> int:
        cfg = parsed[0]
        evaluate_onnx(cfg.onnx_path, cfg.data_path, cfg.set_by("recipe", ("model", "dataset") + PREPROCESSING_KEYS),
                      cfg.batch_size, "CPU" if cfg.device_target == "auto" else cfg.device_target, cfg.result_json,
                      cfg.set_by("command line", ("dataset",) + PREPROCESSING_KEYS))
        return 0
    return run_main(PROG, lambda args: parse_config(args, PROG, DESCRIPTION, script=EVAL_ONNX), body, argv)


if __name__ == "__main__":
    sys.exit(main())

"""Scoring an ONNX file with onnxruntime over the validation split, with the eval pipeline of eval.py."""
import os
from typing import Dict

import numpy as np

from .config import build_config
from .data import create_dataset, pipeline_errors, prepare_data_path
from .errors import ConfigError, DataError
from .evaluation import TopKAccumulator, format_result, write_result_json
from .runtime import LOG, configure_cpu_kernels, setup_logging


def onnx_session(path: str, device_target: str = "CPU"):
    """An onnxruntime session on the CPU provider, or CUDA when asked (an error when it is not available)."""
    import onnxruntime as ort
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ONNX file '{path}' does not exist")
    providers = ["CPUExecutionProvider"]
    if device_target == "GPU":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ConfigError(f"onnxruntime's CUDA provider is not available (have: "
                              f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu or use "
                              f"--device_target CPU")
        providers.insert(0, "CUDAExecutionProvider")
    try:
        return ort.InferenceSession(path, providers=providers)
    except Exception as e:  # onnxruntime raises its own exception types for invalid files
        raise ValueError(f"cannot load ONNX file '{path}': {str(e).splitlines()[0][:200]}") from None


def predict_batches(session, batch: np.ndarray) -> np.ndarray:
    """Run a batch through a session whose input batch dimension is dynamic or fixed (the last batch is padded)."""
    meta = session.get_inputs()[0]
    fixed = meta.shape[0] if isinstance(meta.shape[0], int) else None
    if fixed is None or fixed == len(batch):
        return session.run(None, {meta.name: batch})[0]
    outputs = []
    for start in range(0, len(batch), fixed):
        chunk = batch[start:start + fixed]
        real = len(chunk)
        if real < fixed:
            chunk = np.concatenate([chunk, np.zeros((fixed - real,) + chunk.shape[1:], chunk.dtype)])
        outputs.append(session.run(None, {meta.name: chunk})[0][:real])
    return np.concatenate(outputs)


def evaluate_onnx(onnx_path: str, data_path: str, config: str = "", batch_size: int = 32,
                  device_target: str = "CPU", result_json: str = "") -> Dict[str, float]:
    configure_cpu_kernels()
    setup_logging()
    session = onnx_session(onnx_path, device_target)
    shape = session.get_inputs()[0].shape
    overrides = (["--config", config] if config else []) + ["--data_path", data_path,
                                                               "--eval_batch_size", str(batch_size)]
    cfg = build_config(overrides)
    if isinstance(shape[2], int) and shape[2] != cfg.image_size:
        raise ConfigError(f"'{onnx_path}' takes {shape[2]}x{shape[3]} inputs but the eval preprocessing crops "
                          f"{cfg.image_size}x{cfg.image_size}; pass the recipe used for export with --config")
    root = prepare_data_path(cfg)
    val = create_dataset(cfg, "val", root)
    if val is None:
        raise DataError(f"no validation split in '{root}'")
    acc = TopKAccumulator()
    with pipeline_errors():
        for images, labels in val.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True):
            acc.update(predict_batches(session, images.astype(np.float32)), labels)
    result = acc.result()
    LOG.info(format_result(result, onnx_path))
    if result_json:
        write_result_json(result, result_json, checkpoint=onnx_path, data_path=val.root)
    return result

"""Running exported files: one onnxruntime session factory, batches for fixed- or dynamic-batch files, MINDIR."""
import os
from typing import List

import numpy as np
import mindspore as ms
import onnxruntime as ort
from mindspore import nn

from ..errors import ConfigError


def onnx_session(path: str, device_target: str = "CPU"):
    """An onnxruntime session on the CPU provider, or CUDA when asked (an error when it is not available)."""
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


def run_onnx(path: str, images: np.ndarray) -> np.ndarray:
    """Logits of an ONNX file for a float32 NCHW batch."""
    return predict_batches(onnx_session(path), images)


def onnx_outputs(path: str, images: np.ndarray) -> List[np.ndarray]:
    """Every output of an ONNX file (a features-only network has one per level) for a float32 NCHW batch."""
    session = onnx_session(path)
    return session.run(None, {session.get_inputs()[0].name: images})


def load_mindir(path: str):
    """An nn.GraphCell of a MINDIR file; ValueError naming the file when it cannot be loaded."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MINDIR file '{path}' does not exist")
    try:
        return nn.GraphCell(ms.load(path))
    except Exception as e:  # MindSpore raises several types for unreadable files
        raise ValueError(f"cannot load MINDIR '{path}': {str(e).splitlines()[0][:200]}") from None


def run_mindir(path: str, images: np.ndarray) -> np.ndarray:
    """Logits of a MINDIR file (ms.load + nn.GraphCell) for a float32 NCHW batch."""
    return load_mindir(path)(ms.Tensor(images)).asnumpy()


def mindir_outputs(path: str, images: np.ndarray) -> List[np.ndarray]:
    """Every output of a MINDIR file (a features-only network has one per level) for a float32 NCHW batch."""
    outputs = load_mindir(path)(ms.Tensor(images))
    return [o.asnumpy() for o in (outputs if isinstance(outputs, (tuple, list)) else (outputs,))]


def check_onnx_input_size(path: str, image_size: int, preprocessing_from: str) -> None:
    """Refuse an ONNX file whose fixed input size is not the `image_size` its preprocessing (named by
    `preprocessing_from`) crops, before onnxruntime fails on the first batch. Other files pass."""
    if not path.endswith(".onnx"):
        return
    shape = onnx_session(path).get_inputs()[0].shape
    sizes = tuple(shape[2:4]) if len(shape) == 4 else ()
    if len(sizes) == 2 and all(isinstance(v, int) for v in sizes) and sizes != (image_size, image_size):
        raise ConfigError(f"'{path}' takes {sizes[0]}x{sizes[1]} images but {preprocessing_from} crops "
                          f"{image_size}x{image_size}; export the checkpoint again with export.py, which records "
                          f"the preprocessing in the file")


def make_predictor(path: str, device_target: str = "CPU"):
    """predict(float32 NCHW batch) -> logits for a .onnx or .mindir file."""
    if path.endswith(".onnx"):
        session = onnx_session(path, device_target)
        return lambda batch: predict_batches(session, batch)
    if path.endswith(".mindir"):
        cell = load_mindir(path)
        return lambda batch: cell(ms.Tensor(batch)).asnumpy()
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' does not exist")
    raise ValueError(f"'{path}': expected a .mindir or .onnx file")

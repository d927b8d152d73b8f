"""Shared pieces of the deployment flow: the image list and result-file naming of the inference harness.

The Ascend 310 harness (ascend310_infer/), the Python reference runner (`python -m src.tools.infer_mindir`),
the label builder (create_imagenet2012_label.py) and postprocess.py all name an image by `result_key`: its path
relative to the data root without the extension, with "/" replaced by "__" (a flat folder gives the plain stem, as
the model zoo did; class sub-folders keep images with the same stem apart). The logits of an image go to
`result_Files/<key>_0.bin` as raw float32.
"""
import os
from typing import Dict, List

from .data.folders import IMG_EXTENSIONS
from .errors import DataError

RESULT_SUFFIX = "_0.bin"
KEY_SEPARATOR = "__"


def list_images(root: str) -> List[str]:
    """Every image file under `root` (recursively), sorted by relative path."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"image folder '{root}' does not exist")
    found = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in files if f.endswith(IMG_EXTENSIONS)]
    if not found:
        raise DataError(f"no images found under '{root}'")
    return sorted(found, key=lambda p: os.path.relpath(p, root).split(os.sep))


def result_key(root: str, path: str) -> str:
    """The harness's name for the image `path` under `root`."""
    rel = os.path.relpath(path, root)
    stem = os.path.splitext(rel)[0]
    return stem.replace(os.sep, KEY_SEPARATOR)


def result_keys(root: str, paths: List[str]) -> Dict[str, str]:
    """{key: path}; two images with one key (e.g. `a__b/c.jpg` and `a/b__c.jpg`) are an error."""
    keys: Dict[str, str] = {}
    for path in paths:
        key = result_key(root, path)
        if key in keys:
            raise DataError(f"images '{keys[key]}' and '{path}' would both be written as '{key}{RESULT_SUFFIX}'; "
                            f"rename one of them")
        keys[key] = path
    return keys


FILE_FORMATS = ("MINDIR", "ONNX", "AIR")
_SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def head_classes(params) -> int:
    """The class count of a checkpoint's classifier (`classifier.weight` rows)."""
    if "classifier.weight" not in params:
        raise DataError("the checkpoint has no classifier.weight; pass --num_classes")
    return int(params["classifier.weight"].shape[0])


def export_model(net, file_name: str, file_format: str, batch_size: int = 1, image_size: int = 224,
                 device_target: str = "CPU") -> str:
    """Export the eval-mode `net` for inputs (batch_size, 3, image_size, image_size); return the written path.

    batch_size 0 exports a dynamic batch dimension. AIR needs the Ascend backend.
    """
    import mindspore as ms
    import numpy as np

    if file_format not in FILE_FORMATS:
        raise ValueError(f"unknown file format '{file_format}'; expected one of {', '.join(FILE_FORMATS)}")
    if file_format == "AIR" and device_target != "Ascend":
        raise ValueError(f"AIR export needs MindSpore's Ascend backend (an Ascend 910/310 device and the Ascend "
                         f"build of MindSpore); this run uses {device_target}. Formats that work here: MINDIR, ONNX")
    net.set_train(False)
    path = file_name if file_name.endswith(_SUFFIX[file_format]) else file_name + _SUFFIX[file_format]
    base = path[: -len(_SUFFIX[file_format])]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.exists(path):
        os.remove(path)  # MindSpore writes read-only files and will not replace one
    if batch_size == 0:
        example = ms.Tensor(shape=[None, 3, image_size, image_size], dtype=ms.float32)
    else:
        example = ms.Tensor(np.zeros((batch_size, 3, image_size, image_size), np.float32))
    if file_format == "ONNX":
        kwargs = dict(input_names=["x"], output_names=["logits"])
        if batch_size == 0:
            example = ms.Tensor(np.zeros((1, 3, image_size, image_size), np.float32))
            kwargs["dynamic_axes"] = {"x": {0: "N"}, "logits": {0: "N"}}
        ms.onnx.export(net, example, file_name=base, **kwargs)
    else:
        ms.export(net, example, file_name=base, file_format=file_format)
    if not os.path.isfile(path):
        raise RuntimeError(f"MindSpore reported no error but wrote no '{path}'")
    return path


def calibrate_batchnorm(net, images) -> None:
    """Set every BatchNorm's moving statistics to the batch statistics of its input on `images`.

    With random weights and default statistics (mean 0, variance 1) activations can grow or vanish through a
    deep network, so any two networks "agree"; calibrated statistics keep them O(1), which makes numerical
    comparisons meaningful. Runs one training-mode forward pass in PyNative mode (hooks need it).
    """
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    stats = {}

    def capture(name):
        def hook(cell, inputs):
            x = inputs[0].asnumpy().astype(np.float64)
            axes = (0, 2, 3) if x.ndim == 4 else (0,)
            stats[name] = (x.mean(axis=axes), x.var(axis=axes))
        return hook

    handles = [cell.register_forward_pre_hook(capture(name)) for name, cell in net.cells_and_names()
               if isinstance(cell, (nn.BatchNorm2d, nn.BatchNorm1d))]
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    net.set_train(True)
    try:
        net(images)
    finally:
        for handle in handles:
            handle.remove()
        net.set_train(False)
        ms.set_context(mode=mode)
    cells = dict(net.cells_and_names())
    for name, (mean, var) in stats.items():
        cells[name].moving_mean.set_data(ms.Tensor(mean.astype(np.float32)))
        cells[name].moving_variance.set_data(ms.Tensor(var.astype(np.float32)))


def relative_difference(reference, other) -> float:
    """max |reference - other| divided by the largest |reference| (the logits' scale)."""
    import numpy as np
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"outputs of shape {reference.shape} and {other.shape} cannot be compared")
    scale = float(np.abs(reference).max())
    if scale == 0:
        raise ValueError("the reference output is all zeros: nothing to compare")
    return float(np.abs(reference - other).max()) / scale


def run_onnx(path: str, images, providers=("CPUExecutionProvider",)):
    """Logits of an ONNX file for a float32 NCHW batch."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=list(providers))
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def run_mindir(path: str, images):
    """Logits of a MINDIR file (ms.load + nn.GraphCell) for a float32 NCHW batch."""
    import mindspore as ms
    from mindspore import nn
    return nn.GraphCell(ms.load(path))(ms.Tensor(images)).asnumpy()

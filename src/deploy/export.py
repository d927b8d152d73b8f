"""Export of a network to MINDIR, ONNX or AIR."""
import os

from ..errors import DataError

FILE_FORMATS = ("MINDIR", "ONNX", "AIR")
_SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def head_classes(params, classifier: str = "classifier") -> int:
    """The class count of a checkpoint's classifier (the rows of `<classifier>.weight`)."""
    if f"{classifier}.weight" not in params:
        raise DataError(f"the checkpoint has no {classifier}.weight; pass --num_classes")
    return int(params[f"{classifier}.weight"].shape[0])


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
            # The shapeless example makes the batch symbolic through the whole graph, outputs included; with a
            # batch-1 example and dynamic_axes alone MindSpore declared the output as {1, classes}, and
            # onnxruntime warned on every batch of another size.
            kwargs["dynamic_axes"] = {"x": {0: "N"}, "logits": {0: "N"}}
        ms.onnx.export(net, example, file_name=base, **kwargs)
    else:
        ms.export(net, example, file_name=base, file_format=file_format)
    if not os.path.isfile(path):
        raise RuntimeError(f"MindSpore reported no error but wrote no '{path}'")
    return path

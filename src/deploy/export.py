"""Export of a network to MINDIR, ONNX or AIR, with the model record inside the file: ONNX metadata properties,
MINDIR user_info (both under the key `ghostzoo_record`), so that eval_onnx.py, the reference runner and the 310
scripts take the preprocessing and the class names from the file."""
import json
import os
from typing import List, Optional

import mindspore as ms
import numpy as np
import onnx
import onnxruntime as ort
from mindspore.train import mind_ir_pb2

from ..errors import DataError
from ..engine.record import RECORD_KEY, ModelRecord
from ..kernels.depthwise import standard_ops

FILE_FORMATS = ("MINDIR", "ONNX", "AIR")
_SUFFIX = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


def head_classes(params, classifier: str = "classifier") -> int:
    """The class count of a checkpoint's classifier (the rows of `<classifier>.weight`)."""
    if f"{classifier}.weight" not in params:
        raise DataError(f"the checkpoint has no {classifier}.weight; pass --num_classes")
    return int(params[f"{classifier}.weight"].shape[0])


def export_path(file_name: str, file_format: str) -> str:
    """The file export_model writes for `file_name`: the format's suffix added unless it is there."""
    suffix = _SUFFIX[file_format]
    return file_name if file_name.endswith(suffix) else file_name + suffix


def export_model(net, file_name: str, file_format: str, batch_size: int = 1, image_size: int = 224,
                 device_target: str = "CPU", record: Optional[ModelRecord] = None) -> str:
    """Export the eval-mode `net` for inputs (batch_size, 3, image_size, image_size); return the written path.

    batch_size 0 exports a dynamic batch dimension. AIR needs the Ascend backend. `record` goes into the file
    (ONNX metadata, MINDIR user_info).
    """
    if file_format not in FILE_FORMATS:
        raise ValueError(f"unknown file format '{file_format}'; expected one of {', '.join(FILE_FORMATS)}")
    if file_format == "AIR" and device_target != "Ascend":
        raise ValueError(f"AIR export needs MindSpore's Ascend backend (an Ascend 910/310 device and the Ascend "
                         f"build of MindSpore); this run uses {device_target}. Formats that work here: MINDIR, ONNX")
    net.set_train(False)
    # the file holds MindSpore's own operators, never our CPU kernels, in the form the batch dimension allows
    with standard_ops(net, dynamic_batch=batch_size == 0):
        path = export_path(file_name, file_format)
        base = path[: -len(_SUFFIX[file_format])]
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if os.path.exists(path):
            os.remove(path)  # MindSpore writes read-only files and will not replace one
        if batch_size == 0:
            example = ms.Tensor(shape=[None, 3, image_size, image_size], dtype=ms.float32)
        else:
            example = ms.Tensor(np.zeros((batch_size, 3, image_size, image_size), np.float32))
        if file_format == "ONNX":
            outputs = output_names(net)
            kwargs = dict(input_names=["x"], output_names=outputs)
            if batch_size == 0:
                # The shapeless example makes the batch symbolic through the whole graph, outputs included; with a
                # batch-1 example and dynamic_axes alone MindSpore declared the output as {1, classes}, and
                # onnxruntime warned on every batch of another size.
                kwargs["dynamic_axes"] = {name: {0: "N"} for name in ["x"] + outputs}
            ms.onnx.export(net, example, file_name=base, **kwargs)
            if record is not None:
                _add_onnx_metadata(path, record)
        elif file_format == "MINDIR" and record is not None:
            text = record.to_json()

            def add_record(model_proto):
                model_proto.user_info[RECORD_KEY] = text
            ms.export(net, example, file_name=base, file_format=file_format, custom_func=add_record)
        else:
            ms.export(net, example, file_name=base, file_format=file_format)
    if not os.path.isfile(path):
        raise RuntimeError(f"MindSpore reported no error but wrote no '{path}'")
    return path


def output_names(net) -> List[str]:
    """The exported outputs: `logits`, or `level<i>` per feature level of a features-only network."""
    info = getattr(net, "feature_info", None)
    return [f"level{i}" for i in info.out_indices] if info is not None else ["logits"]


def _add_onnx_metadata(path: str, record: ModelRecord) -> None:
    """The record as the ONNX file's metadata (the whole record, and its main fields one by one for viewers)."""
    model = onnx.load(path)
    fields = {RECORD_KEY: record.to_json(), "model": record.model, "num_classes": str(record.num_classes),
              "preprocessing": json.dumps(record.preprocessing.to_dict())}
    for key, value in fields.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.chmod(path, 0o600)
    os.replace(tmp, path)
    os.chmod(path, 0o400)  # as MindSpore leaves its files


def read_file_record(path: str) -> Optional[ModelRecord]:
    """The record inside an exported .onnx or .mindir file, or None when it has none."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' does not exist")
    if path.endswith(".onnx"):
        try:
            meta = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_modelmeta()
        except Exception as e:  # onnxruntime's own exception types for invalid files
            raise ValueError(f"cannot load ONNX file '{path}': {str(e).splitlines()[0][:200]}") from None
        text = meta.custom_metadata_map.get(RECORD_KEY)
    elif path.endswith(".mindir"):
        proto = mind_ir_pb2.ModelProto()
        try:
            with open(path, "rb") as f:
                proto.ParseFromString(f.read())
        except Exception:  # protobuf's DecodeError
            raise ValueError(f"cannot read MINDIR file '{path}': not a MindIR model") from None
        text = proto.user_info.get(RECORD_KEY)
    else:
        raise ValueError(f"'{path}': expected a .onnx or .mindir file")
    return ModelRecord.from_json(text, f"'{path}'") if text else None

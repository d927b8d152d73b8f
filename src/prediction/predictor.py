"""A model ready to score images: a checkpoint's network (opened by loading.open_model) or an exported .onnx /
.mindir file, batched, with its classes and preprocessing; the top-k of each image."""
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..data.preprocessing import Preprocessing, resolve_preprocessing
from ..engine.evaluation import padded_predict
from ..errors import ConfigError
from ..loading import class_names
from .inputs import eval_preprocess, load_images, true_class

MODEL_SUFFIXES = (".ckpt", ".onnx", ".mindir")


@dataclass
class Predictor:
    """A model ready to score preprocessed batches: predict(float32 NCHW) -> logits."""
    predict: Callable[[np.ndarray], np.ndarray]
    classes: List[str]                 # class names in output order
    preprocessing: Preprocessing
    model: str                         # the network's name ("" when unknown)
    path: str
    how: str                           # where the model, classes and preprocessing came from (for the log)


@dataclass
class Prediction:
    """The top-k of one image: (class index, probability) pairs, most probable first, and its true class when the
    image's folder names one."""
    path: str
    top: List[Tuple[int, float]]
    true: Optional[int] = None

    @property
    def correct(self) -> Optional[bool]:
        return None if self.true is None else self.top[0][0] == self.true


@dataclass
class PredictionRun:
    predictions: List[Prediction] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)   # (path, why)


def network_predict(net) -> Callable[[np.ndarray], np.ndarray]:
    """predict(float32 NCHW) -> logits of a MindSpore network, put in eval mode."""
    import mindspore as ms
    from ..runtime import graph_runner
    net.set_train(False)
    run = graph_runner(net)
    return lambda batch: run(ms.Tensor(batch)).asnumpy()


def check_model_file(path: str) -> str:
    """The suffix of an existing .ckpt / .onnx / .mindir file; an error naming the path otherwise (checked before
    MindSpore is set up or any image is looked at)."""
    if not path:
        raise ConfigError("no model given: pass --checkpoint_path FILE.ckpt|FILE.onnx|FILE.mindir")
    if os.path.isdir(path):
        raise IsADirectoryError(f"model file '{path}' is a folder; pass the .ckpt, .onnx or .mindir file itself")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MODEL_SUFFIXES:
        raise ValueError(f"model file '{path}': unknown suffix '{suffix or '(none)'}'; expected "
                         f"{', '.join(MODEL_SUFFIXES)}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file '{path}' does not exist")
    return suffix


def open_predictor(path: str, model: str = "", device_target: str = "CPU", batch_size: int = 32) -> Predictor:
    """A Predictor for a checkpoint (.ckpt) or an exported .onnx / .mindir file. `model`: for a file without a
    record, the network whose default preprocessing to use (a record-less checkpoint is recognised without)."""
    from ..models import get_default_cfg
    suffix = check_model_file(path)
    if suffix == ".ckpt":
        from ..loading import open_model
        net = open_model(path, model or None)  # deployed, as eval.py and export.py run it
        opened, record = net.opened, net.record
        how = f"{opened.model}, {opened.num_classes} classes ({opened.how})"
        return Predictor(padded_predict(network_predict(net), batch_size), net.class_names, net.preprocessing,
                         opened.model, path,
                         how + ("" if record and record.classes else "; class names: " + (
                             "the class indices" if net.class_names[0] == "0" else
                             "ImageNet-1k's (by the head size)")))
    from ..deploy import check_onnx_input_size, make_predictor, read_file_record
    record = read_file_record(path)
    if record is None and not model:
        raise ConfigError(f"'{path}' carries no model record: pass --model NAME so that its preprocessing is "
                          f"known (class names are then the class indices)")
    name = model or record.model
    preprocessing = resolve_preprocessing(get_default_cfg(name), record.preprocessing.to_dict() if record else None,
                                          dataset=record.dataset if record else "imagenet")
    check_onnx_input_size(path, preprocessing.image_size, "the preprocessing recorded in it" if record else
                          f"the default preprocessing of --model {name}")
    predict = make_predictor(path, "GPU" if device_target == "GPU" else "CPU")
    num_classes = record.num_classes if record else 0
    if not num_classes:  # learn the class count from one zero image
        probe = np.zeros((1, 3, preprocessing.image_size, preprocessing.image_size), np.float32)
        num_classes = int(np.asarray(predict(probe)).shape[-1])
    names = class_names(record.classes if record else None, num_classes)
    how = f"{name}, {num_classes} classes ({'recorded in the file' if record else 'given with --model'})"
    return Predictor(predict, names, preprocessing, name, path, how)


# ----------------------------------------------------------------------------------------------------- predicting
def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable)."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def top_k(probabilities: np.ndarray, k: int) -> List[List[Tuple[int, float]]]:
    """The k most probable (class, probability) per row; ties go to the lower class index, as in eval.py."""
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return [[(int(c), float(p[c])) for c in row] for row, p in zip(order, probabilities)]


def predict_files(predictor: Predictor, paths: Sequence[str], batch_size: int = 32, k: int = 5,
                  image_check: str = "structure", progress=None) -> PredictionRun:
    """Top-k predictions of every readable image of `paths`, in batches of `batch_size`; unreadable ones are
    listed in the result's `skipped`. `progress`: called with the number of files done after each batch."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    if k < 1:
        raise ValueError(f"top-k must be at least 1, got {k}")
    k = min(k, len(predictor.classes))
    preprocess = eval_preprocess(predictor.preprocessing)
    run = PredictionRun()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        loaded, skipped = load_images(chunk, preprocess, image_check)
        run.skipped += skipped
        if loaded:
            logits = np.asarray(predictor.predict(np.stack([image for _, image in loaded])))
            for (path, _), top in zip(loaded, top_k(softmax(logits), k)):
                run.predictions.append(Prediction(path, top, true_class(path, predictor.classes)))
        if progress is not None:
            progress(len(chunk))
    return run

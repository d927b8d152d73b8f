"""Predictions on image files: finding the images (files, folders searched recursively, glob patterns), the
evaluation preprocessing of eval.py applied to each file, batched inference through a checkpoint's network or an
exported ONNX / MINDIR file, the top-k classes with their probabilities, and the CSV / JSON / table / grid
outputs. predict.py and train.py's prediction grid use these functions.

Preprocessing and class names come from the checkpoint's or file's model record (engine/record.py); a checkpoint
without one is recognised by its parameter names, and then gets its model's default preprocessing and the class
indices as names. A corrupt or unreadable image is listed and skipped; a folder or pattern without any image is
an error.
"""
import csv
import glob
import io
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .data.folders import check_image_file, is_image_name
from .data.image_check import IMAGE_EXTENSIONS
from .data.preprocessing import Preprocessing, resolve_preprocessing
from .errors import ConfigError, DataError
from .outputs import atomic_write_text, check_output_file

OUTPUT_FORMATS = (".csv", ".json")
MODEL_SUFFIXES = (".ckpt", ".onnx", ".mindir")
_GLOB_CHARS = set("*?[")


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


# ----------------------------------------------------------------------------------------------------- inputs
def _images_under(folder: str) -> List[str]:
    found = []
    for directory, subdirs, names in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found += [os.path.join(directory, n) for n in sorted(names) if is_image_name(n)]
    return found


def collect_images(inputs: Sequence[str]) -> List[str]:
    """The image files named by `inputs`: files as given, folders searched recursively, glob patterns (`**`
    allowed) expanded; each image once, in the given order. A folder or pattern with no image, or a path that
    does not exist, is an error naming it."""
    if not inputs:
        raise ValueError("no images given: pass image files, folders or glob patterns")
    seen, images = set(), []
    for given in inputs:
        if os.path.isdir(given):
            found = _images_under(given)
            if not found:
                raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the folder '{given}' or below it")
        elif os.path.isfile(given):
            found = [given]
        elif _GLOB_CHARS & set(given):
            matches = sorted(glob.glob(given, recursive=True))
            found = []
            for match in matches:
                found += _images_under(match) if os.path.isdir(match) else ([match] if is_image_name(match) else [])
            if not found:
                what = f"{len(matches)} path(s), none an image" if matches else "nothing"
                raise DataError(f"the pattern '{given}' matches {what}; expected image files "
                                f"({', '.join(IMAGE_EXTENSIONS)})")
        else:
            raise FileNotFoundError(f"'{given}' does not exist (expected an image file, a folder or a glob pattern)")
        for path in found:
            key = os.path.abspath(path)
            if key not in seen:
                seen.add(key)
                images.append(path)
    return images


def true_class(path: str, classes: Sequence[str]) -> Optional[int]:
    """The class the image's parent folder names (its index in `classes`), or None."""
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    try:
        return list(classes).index(parent)
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------------- models
def eval_preprocess(preprocessing: Preprocessing) -> Callable[[np.ndarray], np.ndarray]:
    """File bytes -> float32 CHW through the eager MindSpore transforms of eval.py's pipeline."""
    from mindspore.dataset import transforms

    from .data.transforms import folder_eval_transforms
    compose = transforms.Compose(folder_eval_transforms(preprocessing.image_size, preprocessing.eval_resize,
                                                        preprocessing.mean, preprocessing.std,
                                                        preprocessing.interpolation))

    def apply(data: np.ndarray) -> np.ndarray:
        out = compose(data)
        return out[0] if isinstance(out, (tuple, list)) else out
    return apply


def padded_predict(predict: Callable[[np.ndarray], np.ndarray], batch_size: int) -> Callable:
    """`predict` fed only full batches of `batch_size` (a short last batch is padded with zeros and its padding's
    outputs dropped), so a graph-mode network compiles once."""
    def run(batch: np.ndarray) -> np.ndarray:
        real = len(batch)
        if real < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - real,) + batch.shape[1:], batch.dtype)])
        return np.asarray(predict(batch))[:real]
    return run


def network_predict(net) -> Callable[[np.ndarray], np.ndarray]:
    """predict(float32 NCHW) -> logits of a MindSpore network, put in eval mode."""
    import mindspore as ms
    net.set_train(False)
    return lambda batch: net(ms.Tensor(batch)).asnumpy()


def class_names(classes: Optional[Sequence[str]], num_classes: int) -> List[str]:
    """The recorded class names, or the class indices as names (padded with indices to `num_classes`)."""
    names = [str(c) for c in (classes or [])][:num_classes]
    return names + [str(i) for i in range(len(names), num_classes)]


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
    from .models import get_default_cfg
    suffix = check_model_file(path)
    if suffix == ".ckpt":
        from .engine.checkpoint import load_opened, open_checkpoint
        from .models import create_model, reparameterize
        opened = open_checkpoint(path, model or None)
        record = opened.record
        preprocessing = resolve_preprocessing(get_default_cfg(opened.model),
                                              record.preprocessing.to_dict() if record else None,
                                              dataset=record.dataset if record else "imagenet")
        net = create_model(opened.model, num_classes=opened.num_classes, image_size=preprocessing.image_size)
        load_opened(net, opened)
        reparameterize(net)  # GhostNetV3 / RepGhost predict deployed, as eval.py and export.py do (same outputs)
        names = class_names(record.classes if record else None, opened.num_classes)
        how = f"{opened.model}, {opened.num_classes} classes ({opened.how})"
        return Predictor(padded_predict(network_predict(net), batch_size), names, preprocessing, opened.model,
                         path, how + ("" if record and record.classes else "; class names: the class indices"))
    from .deploy import check_onnx_input_size, make_predictor, read_file_record
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


def load_images(paths: Sequence[str], preprocess: Callable[[np.ndarray], np.ndarray],
                image_check: str = "structure") -> Tuple[List[Tuple[str, np.ndarray]], List[Tuple[str, str]]]:
    """([(path, float32 CHW)], [(path, why skipped, naming the file)]): each file checked first (check_image_file:
    MindSpore's decoder can kill the process on a truncated JPEG), then preprocessed; a failure skips the file."""
    loaded, skipped = [], []
    for path in paths:
        try:
            if image_check != "none":
                check_image_file(path, decode=image_check == "decode")
            image = preprocess(np.fromfile(path, dtype=np.uint8))
        except DataError as e:
            skipped.append((path, str(e).split("; remove or replace it")[0]))
            continue
        except (RuntimeError, OSError, ValueError) as e:
            skipped.append((path, f"cannot read or decode '{path}': {str(e).strip().splitlines()[0][:200]}"))
            continue
        loaded.append((path, np.ascontiguousarray(image, np.float32)))
    return loaded, skipped


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


def spread_over_classes(items: Sequence, label_of: Callable, count: int) -> List:
    """Up to `count` of `items`, taken in turn from each label's items (so that a grid shows every class)."""
    groups: Dict = {}
    for item in items:
        groups.setdefault(label_of(item), []).append(item)
    picked, queues = [], [list(g) for g in groups.values()]
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.pop(0))
    return picked


# ----------------------------------------------------------------------------------------------------- outputs
def check_output_path(path: str) -> str:
    """The format of a predictions file from its suffix (.csv or .json), its folder checked for writing."""
    return check_output_file(path, "--output", OUTPUT_FORMATS)


def predictions_csv(run: PredictionRun, classes: Sequence[str], k: int) -> str:
    """CSV: path, true class (empty when unknown), then class and probability of the top k."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "true"] + [f"{what}{i}" for i in range(1, k + 1) for what in ("top", "prob")])
    for p in run.predictions:
        cells = [p.path, "" if p.true is None else classes[p.true]]
        for index, probability in p.top:
            cells += [classes[index], f"{probability:.6f}"]
        writer.writerow(cells)
    return out.getvalue()


def predictions_json(run: PredictionRun, classes: Sequence[str], predictor: Predictor) -> str:
    """JSON: the model, every image's top-k (class, index, probability) and true class, and the skipped files."""
    return json.dumps({
        "model": predictor.model, "model_path": predictor.path, "classes": list(classes),
        "predictions": [{"path": p.path, "true": None if p.true is None else classes[p.true],
                         "top": [{"class": classes[i], "index": i, "probability": round(prob, 6)}
                                 for i, prob in p.top]} for p in run.predictions],
        "skipped": [{"path": path, "reason": why} for path, why in run.skipped]}, indent=2) + "\n"


def write_predictions(run: PredictionRun, predictor: Predictor, path: str, k: int) -> str:
    """Write the predictions as CSV or JSON (by the suffix), atomically."""
    suffix = check_output_path(path)
    text = (predictions_csv(run, predictor.classes, k) if suffix == ".csv"
            else predictions_json(run, predictor.classes, predictor))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(path, text)
    return path


def format_table(run: PredictionRun, classes: Sequence[str], k: int) -> str:
    """A text table: image, true class, then `class probability` for the top k."""
    header = ["image", "true"] + [f"top-{i}" for i in range(1, k + 1)]
    lines = [[p.path, "" if p.true is None else classes[p.true]]
             + [f"{classes[i]} {prob:.3f}" for i, prob in p.top] for p in run.predictions]
    widths = [max(len(row[c]) if c < len(row) else 0 for row in [header] + lines) for c in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in [header] + lines)


def thumbnail(path: str, size: int = 160) -> np.ndarray:
    """The image as HWC uint8 RGB, shrunk to fit `size` pixels (for the grid)."""
    from PIL import Image
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((size, size))
        return np.asarray(image)


def draw_grid(run: PredictionRun, classes: Sequence[str], path: str, max_images: int = 48,
              title: str = "") -> str:
    """The prediction grid of up to `max_images` images (spread over their true classes)."""
    from .plots import draw_prediction_grid
    chosen = spread_over_classes(run.predictions, lambda p: p.true, max_images)
    items = [(thumbnail(p.path), classes[p.top[0][0]], p.top[0][1], None if p.true is None else classes[p.true])
             for p in chosen]
    return draw_prediction_grid(items, path, title)


def accuracy(predictions: Iterable[Prediction]) -> Optional[Tuple[int, int]]:
    """(right, with a known true class) over `predictions`, or None when no true class is known."""
    known = [p for p in predictions if p.true is not None]
    return (sum(bool(p.correct) for p in known), len(known)) if known else None


def draw_validation_grid(net, source, preprocessing: Preprocessing, count: int, path: str, batch_size: int = 32,
                         title: str = "") -> Tuple[Optional[str], str]:
    """(path written or None, a line for the log): a MindSpore network's predictions on `count` images of a
    validation DataSource of image files, taken in turn from each class."""
    if source is None or source.kind != "folder":
        what = "no validation split" if source is None else f"the {source.kind} validation split holds no image files"
        return None, f"prediction grid: {what}; none drawn"
    chosen = [p for p, _ in spread_over_classes(source.samples, lambda s: s[1], count)]
    batch = min(batch_size, len(chosen))
    predictor = Predictor(padded_predict(network_predict(net), batch), list(source.classes), preprocessing,
                          "", "", "the network in memory")
    run = predict_files(predictor, chosen, batch, 1)
    if not run.predictions:
        return None, f"prediction grid: none of the {len(chosen)} chosen images could be read; none drawn"
    right, known = accuracy(run.predictions) or (0, 0)
    written = draw_grid(run, predictor.classes, path, count, title)
    return written, f"prediction grid: {written} ({right} of {known} right)"

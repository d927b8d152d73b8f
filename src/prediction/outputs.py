"""What a prediction run writes: the table printed, CSV / JSON files and the picture grid of images with their
top-1 label (green right, red wrong where the folder names the class)."""
import csv
import io
import json
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..outputs import atomic_write_text, check_output_file
from .predictor import Prediction, PredictionRun, Predictor

OUTPUT_FORMATS = (".csv", ".json")


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
    from ..plots import draw_prediction_grid
    chosen = spread_over_classes(run.predictions, lambda p: p.true, max_images)
    items = [(thumbnail(p.path), classes[p.top[0][0]], p.top[0][1], None if p.true is None else classes[p.true])
             for p in chosen]
    return draw_prediction_grid(items, path, title)


def accuracy(predictions: Iterable[Prediction]) -> Optional[Tuple[int, int]]:
    """(right, with a known true class) over `predictions`, or None when no true class is known."""
    known = [p for p in predictions if p.true is not None]
    return (sum(bool(p.correct) for p in known), len(known)) if known else None

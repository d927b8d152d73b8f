"""The pictures (src/plots.py): curves of one run and of several, the confusion matrix or its most confused pairs,
the prediction grid; size, not blank, the right colours, and a user's matplotlib backend left alone."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from src.engine.evaluation import ConfusionAccumulator
from src.engine.report import write_report_files
from src.plots import CURVES_SIZE, DPI, draw_confusion, draw_curves, draw_prediction_grid
from tests.support import ROOT, run_history


def _decode(path):
    image = np.asarray(Image.open(path).convert("RGB"))
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    return image, colours


def test_curves_png_has_its_size_three_panels_and_the_runs_colours(tmp_path):
    path = draw_curves([run_history()], str(tmp_path / "curves.png"), "run")
    image, colours = _decode(path)
    assert image.shape[:2] == (CURVES_SIZE[1] * DPI, CURVES_SIZE[0] * DPI)
    assert image.std() > 20 and colours > 50  # not blank
    blue = np.all(np.abs(image.astype(int) - (9, 105, 218)) < 40, axis=2)  # the first run's colour
    assert blue.sum() > 500
    thirds = np.array_split(blue, 3, axis=1)
    assert all(part.sum() > 50 for part in thirds)  # drawn in each panel: loss, lr, accuracy


def test_overlay_of_two_runs_uses_two_colours(tmp_path):
    path = draw_curves([run_history(label="a"), run_history(epochs=6, label="b")], str(tmp_path / "o.png"))
    image, _ = _decode(path)
    red = np.all(np.abs(image.astype(int) - (207, 34, 46)) < 40, axis=2)  # the second run's colour
    assert red.sum() > 300


def test_plots_leave_a_users_matplotlib_backend_alone(tmp_path):
    code = ("import matplotlib, sys; matplotlib.use('svg'); from src.engine.report import read_run; "
            "from src.plots import draw_curves; "
            f"draw_curves([read_run({str(tmp_path)!r})], {str(tmp_path / 'c.png')!r}); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    write_report_files(str(tmp_path), run_history())
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    assert Image.open(tmp_path / "c.png").size == (1300, 400)


def test_many_classes_draw_the_confused_pairs_not_a_matrix(tmp_path):
    rng = np.random.default_rng(2)
    acc = ConfusionAccumulator(40)
    labels = rng.integers(0, 40, 2000)
    logits = np.eye(40)[np.where(rng.random(2000) < 0.8, labels, rng.integers(0, 40, 2000))]
    acc.update(logits, labels)
    names = [f"class_{i:02d}" for i in range(40)]
    pairs = acc.most_confused(12)
    assert len(pairs) == 12 and pairs[0][2] >= pairs[-1][2] > 0
    chart = draw_confusion(acc.matrix, names, str(tmp_path / "pairs.png"), pairs)
    assert Image.open(chart).size == (900, 400)  # 1 + 0.25 inch a pair
    small = ConfusionAccumulator(4)
    small.update(np.eye(4)[[0, 1, 2, 3, 1]], np.array([0, 1, 2, 3, 0]))
    matrix = draw_confusion(small.matrix, names[:4], str(tmp_path / "m.png"), small.most_confused())
    image, colours = _decode(matrix)
    assert image.shape[1] > image.shape[0] and colours > 20


def test_prediction_grid_colours_right_and_wrong(tmp_path):
    grey = np.full((40, 40, 3), 128, np.uint8)
    items = [(grey, "cat", 0.9, "cat"), (grey, "cat", 0.6, "dog"), (grey, "dog", 0.7, None)]
    path = draw_prediction_grid(items, str(tmp_path / "g.png"), "title")
    image, _ = _decode(path)
    assert image.shape[:2] == (250, 525)  # 3 images of 1.75 x 2 inches, a title of 0.5 inch, at 100 dpi
    frame_green = np.all(np.abs(image.astype(int) - (26, 127, 55)) < 30, axis=2).sum()
    frame_red = np.all(np.abs(image.astype(int) - (207, 34, 46)) < 30, axis=2).sum()
    assert frame_green > 200 and frame_red > 200
    with pytest.raises(ValueError, match="no image"):
        draw_prediction_grid([], str(tmp_path / "e.png"))

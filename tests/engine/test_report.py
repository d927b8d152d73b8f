"""What a user looks at, without training: progress output, summary.csv and log parsing, the pictures (size, not
blank, right colours), the confusion counts, image collection for predict.py, and bad input to the new tools."""
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from src.engine.evaluation import (ConfusionAccumulator, TopKAccumulator, confusion_details, evaluate_batches,
                                   format_confused)
from src.engine.report import EpochRow, RunHistory, StepPoint, parse_train_log, read_run, write_report_files
from src.errors import DataError
from src.plots import CURVES_SIZE, DPI, draw_confusion, draw_curves, draw_prediction_grid
from src.prediction import collect_images, predictions_csv, spread_over_classes, top_k
from src.progress import Progress, track
from tests.support import ROOT

PLAIN_LINE = re.compile(r"^eval: (\d+)/100 img \((\d+)%\), [\d.]+ img/s, eta \d+:\d\d:\d\d$")


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


# ----------------------------------------------------------------------------------------------------- progress
def test_progress_off_a_terminal_is_plain_periodic_lines():
    stream, clock = io.StringIO(), FakeClock()
    with Progress(100, "eval", "img", stream=stream, delay=2.0, interval=10.0, clock=clock) as progress:
        for _ in range(100):
            clock.now += 0.5          # 2 images a second: 50 s in all
            progress.update(1)
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue()  # no bar redraws in a log file
    periodic = [PLAIN_LINE.match(line) for line in lines[:-1]]
    assert all(periodic), lines
    # the first line once 2 s have passed (4 images), then one every 10 s (20 images)
    assert [int(m.group(1)) for m in periodic] == [4, 24, 44, 64, 84]
    assert re.match(r"^eval: \d+/100 img \(\d+%\), 2\.0 img/s, eta 0:00:48$", lines[0])
    assert lines[-1] == "eval: done 100 img in 0:00:50, 2.0 img/s"


def test_progress_is_silent_for_short_work():
    stream, clock = io.StringIO(), FakeClock()
    for _ in track(range(50), "check", "file", stream=stream, delay=2.0, clock=clock):
        clock.now += 0.01
    assert stream.getvalue() == ""


def test_progress_on_a_terminal_is_a_tqdm_bar_with_rate_and_time_left():
    stream = Terminal()
    with Progress(40, "predict", "img", stream=stream, delay=0.0) as progress:
        for _ in range(40):
            progress.update(1, note="batch")
    text = stream.getvalue()
    assert "\r" in text and "predict" in text and "40/40" in text
    assert re.search(r"img/s", text) and re.search(r"<\d\d:\d\d", text)  # rate and time left


# ----------------------------------------------------------------------------------------------------- report files
def _history(epochs=4, steps=5, label="run"):
    rng = np.random.default_rng(0)
    history = RunHistory(label, steps)
    best = (None, None)
    for epoch in range(1, epochs + 1):
        for s in range(steps):
            history.steps.append(StepPoint((epoch - 1) * steps + s + 1, epoch, float(2 / epoch + rng.random() * 0.2),
                                           0.1 * (1 - ((epoch - 1) * steps + s) / (epochs * steps))))
        top1 = 0.4 + 0.15 * epoch if epoch % 2 == 0 else None
        if top1 is not None and (best[0] is None or top1 > best[0]):
            best = (top1, epoch)
        history.rows.append(EpochRow(epoch, float(np.mean([p.loss for p in history.steps[-steps:]])),
                                     history.steps[-1].loss, history.steps[-1].lr, 123.4, 1.5, top1,
                                     None if top1 is None else min(1.0, top1 + 0.2), *best))
    return history


def test_summary_csv_round_trip_keeps_every_value(tmp_path):
    history = _history()
    write_report_files(str(tmp_path), history)
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header == ("epoch,train_loss,last_loss,lr,img_per_sec,epoch_seconds,val_top1,val_top5,best_top1,"
                      "best_epoch")
    assert (tmp_path / "summary.csv").read_text().splitlines()[1].endswith(",123.4,1.500000,,,,")  # empty cells
    back = read_run(str(tmp_path))
    assert back.source == "summary.csv" and back.steps_per_epoch == 5
    assert back.rows == history.rows and back.steps == history.steps
    assert back.best() == (0.4 + 0.15 * 4, 4)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]  # written aside, renamed


def test_damaged_summary_csv_is_named(tmp_path):
    (tmp_path / "summary.csv").write_text("epoch,train_loss\n1,abc\n")
    with pytest.raises(ValueError, match=r"summary.csv' line 2, column train_loss: 'abc' is not a number"):
        read_run(str(tmp_path))
    (tmp_path / "summary.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="is not a summary.csv of this project"):
        read_run(str(tmp_path))


LOG = """\
2024-05-01 10:00:00,000 model ghostnet_050: 1,311,416 parameters, 4 classes; device CPU, mode graph, amp O0
2024-05-01 10:00:01,000 epoch: 1 step: [1/2], loss: 1.500000, lr: 0.010000, 20.0 img/s, epoch eta 1 s
2024-05-01 10:00:02,000 epoch: 1 step: 2, loss is 1.25
2024-05-01 10:00:02,100 epoch time: 2000.500 ms, per step time: 1000.250 ms, 32.0 img/s
2024-05-01 10:00:03,000 epoch: 2 step: [1/2], loss: 1.100000, lr: 0.050000, 30.0 img/s, epoch eta 1 s
2024-05-01 10:00:04,000 epoch: 2 step: 2, loss is 0.9
2024-05-01 10:00:04,100 epoch time: 1500.000 ms, per step time: 750.000 ms, 42.7 img/s
2024-05-01 10:00:05,000 epoch: 2 validation: top_1_accuracy 0.6000, top_5_accuracy 1.0000 over 52 images (1.0 s); best 0.6000 at epoch 2
2024-05-01 10:00:06,000 epoch: 3 step: [1/2], loss: 0.800000, lr: 0.020000, 30.0 img/s, epoch eta 1 s
2024-05-01 11:00:00,000 model ghostnet_050: 1,311,416 parameters, 4 classes; device CPU, mode graph, amp O0
2024-05-01 11:00:00,500 resumed from run/ckpt/ghostnet_050-2_2.ckpt: epoch 2 done, global step 4; continuing at epoch 3 of 3
2024-05-01 11:00:01,000 epoch: 3 step: [1/2], loss: 0.700000, lr: 0.020000, 30.0 img/s, epoch eta 1 s
2024-05-01 11:00:02,000 epoch: 3 step: 2, loss is 0.5
2024-05-01 11:00:02,100 epoch time: 1000.000 ms, per step time: 500.000 ms, 64.0 img/s
2024-05-01 11:00:03,000 epoch: 3 validation: top_1_accuracy 0.5000, top_5_accuracy 1.0000 over 52 images (1.0 s); best 0.6000 at epoch 2
"""  # noqa: E501 (the log lines as train.py writes them)


def test_train_log_of_a_killed_and_resumed_run_gives_each_epoch_once(tmp_path):
    (tmp_path / "train.log").write_text(LOG)
    run = read_run(str(tmp_path))
    assert run.source == "train.log" and run.steps_per_epoch == 2
    assert [r.epoch for r in run.rows] == [1, 2, 3]
    one, two, three = run.rows
    assert (one.train_loss, one.last_loss, one.img_per_sec, one.epoch_seconds) == (1.375, 1.25, 32.0, 2.0005)
    assert (two.val_top1, two.val_top5, two.best_top1, two.best_epoch) == (0.6, 1.0, 0.6, 2)
    assert one.val_top1 is None and one.best_top1 is None
    assert three.train_loss == pytest.approx(0.6) and three.last_loss == 0.5  # the resumed process's epoch 3
    assert [(p.step, p.loss) for p in run.steps if p.epoch == 3] == [(5, 0.7), (6, 0.5)]
    assert run.best() == (0.6, 2)


def test_a_fresh_run_in_the_same_folder_starts_the_log_history_anew(tmp_path):
    (tmp_path / "train.log").write_text(LOG + LOG.splitlines()[0] + "\n" + LOG.splitlines()[2] + "\n")
    run = parse_train_log(str(tmp_path / "train.log"))
    assert [r.epoch for r in run.rows] == [1] and run.rows[0].last_loss == 1.25 and run.rows[0].train_loss == 1.25


def _decode(path):
    image = np.asarray(Image.open(path).convert("RGB"))
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    return image, colours


def test_curves_png_has_its_size_three_panels_and_the_runs_colours(tmp_path):
    path = draw_curves([_history()], str(tmp_path / "curves.png"), "run")
    image, colours = _decode(path)
    assert image.shape[:2] == (CURVES_SIZE[1] * DPI, CURVES_SIZE[0] * DPI)
    assert image.std() > 20 and colours > 50  # not blank
    blue = np.all(np.abs(image.astype(int) - (9, 105, 218)) < 40, axis=2)  # the first run's colour
    assert blue.sum() > 500
    thirds = np.array_split(blue, 3, axis=1)
    assert all(part.sum() > 50 for part in thirds)  # drawn in each panel: loss, lr, accuracy


def test_overlay_of_two_runs_uses_two_colours(tmp_path):
    path = draw_curves([_history(label="a"), _history(epochs=6, label="b")], str(tmp_path / "o.png"))
    image, _ = _decode(path)
    red = np.all(np.abs(image.astype(int) - (207, 34, 46)) < 40, axis=2)  # the second run's colour
    assert red.sum() > 300


def test_plots_leave_a_users_matplotlib_backend_alone(tmp_path):
    code = ("import matplotlib, sys; matplotlib.use('svg'); from src.engine.report import read_run; "
            "from src.plots import draw_curves; "
            f"draw_curves([read_run({str(tmp_path)!r})], {str(tmp_path / 'c.png')!r}); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    write_report_files(str(tmp_path), _history())
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["svg", "False"]
    assert Image.open(tmp_path / "c.png").size == (1300, 400)


def test_plot_run_redraws_and_overlays(tmp_path, capsys):
    from src.tools import plot_run
    new, old = tmp_path / "new", tmp_path / "old"
    new.mkdir()
    old.mkdir()
    write_report_files(str(new), _history())
    (old / "train.log").write_text(LOG)
    assert plot_run.main([str(new)]) == 0
    assert Image.open(new / "curves.png").size == (1300, 400)
    out = tmp_path / "both.svg"
    assert plot_run.main([str(new), str(old), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 epoch(s) from summary.csv, best top-1 1.0000 at epoch 4" in printed
    assert "3 epoch(s) from train.log, best top-1 0.6000 at epoch 2" in printed
    assert out.read_text().startswith("<?xml")
    assert plot_run.main([str(tmp_path / "none")]) == 2
    assert "run folder" in capsys.readouterr().err
    assert plot_run.main([str(new), "--output", str(tmp_path / "x.gif")]) == 2
    assert "unknown suffix '.gif'" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert plot_run.main([str(empty)]) == 2
    assert "holds no summary.csv and no train.log" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------------- confusion
def test_confusion_counts_per_class_accuracy_and_ranks():
    acc = ConfusionAccumulator(3)
    logits = np.array([[3, 1, 0], [0, 2, 1], [0, 2, 1], [1, 1, 0], [0, 0, 5]], np.float32)  # ties: lower index
    labels = np.array([0, 1, 2, 1, 2])
    acc.update(logits, labels)
    assert acc.matrix.tolist() == [[1, 0, 0], [1, 1, 0], [0, 1, 1]]
    names = ["cat", "dog", "fox"]
    details = confusion_details(acc, names, acc.most_confused(5))
    assert details["per_class"] == {"cat": {"accuracy": 1.0, "num_samples": 1},
                                    "dog": {"accuracy": 0.5, "num_samples": 2},
                                    "fox": {"accuracy": 0.5, "num_samples": 2}}
    assert details["most_confused"] == [{"true": "dog", "predicted": "cat", "count": 1},
                                        {"true": "fox", "predicted": "dog", "count": 1}]
    assert format_confused(acc.most_confused(1), names)[1].split() == ["1", "x", "dog", "->", "cat"]
    # the same top-1 as the top-k counts
    shard = [(logits, labels)]
    assert evaluate_batches(lambda x: x, shard)["top_1_accuracy"] == np.trace(acc.matrix) / 5


def test_confusion_is_summed_across_ranks_like_the_topk_counts():
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((40, 5)), rng.integers(0, 5, 40)
    whole = ConfusionAccumulator(5)
    whole.update(logits, labels)
    ranks = [ConfusionAccumulator(5), ConfusionAccumulator(5)]
    ranks[1].update(logits[20:], labels[20:])  # the other rank's shard; rank 0's is scored below
    other_topk = TopKAccumulator()
    other_topk.update(logits[20:], labels[20:])
    # what sum_across_ranks returns on rank 0: its values plus the other rank's (float32, as all_reduce_sum)
    others = {3: np.array([other_topk.correct[1], other_topk.correct[5], other_topk.count], np.float32),
              25: ranks[1].matrix.reshape(-1).astype(np.float32)}
    result = evaluate_batches(lambda x: x, [(logits[:20], labels[:20])],
                              lambda v: np.asarray(v, np.float32) + others[len(v)], [ranks[0]])
    assert np.array_equal(ranks[0].matrix, whole.matrix) and whole.matrix.sum() == 40
    assert result == evaluate_batches(lambda x: x, [(logits, labels)])


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


# ----------------------------------------------------------------------------------------------------- predict
def _jpeg(path, colour=(200, 30, 30)):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((20, 24, 3), colour, np.uint8)).save(path)
    return path


def test_collect_images_from_files_folders_and_globs(tmp_path):
    a = _jpeg(str(tmp_path / "a" / "x.jpg"))
    b = _jpeg(str(tmp_path / "a" / "deep" / "y.PNG"))
    c = _jpeg(str(tmp_path / "c" / "z.jpeg"))
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    assert collect_images([str(tmp_path / "a")]) == [a, b]  # recursive; other files ignored
    assert collect_images([c, str(tmp_path / "*" / "*.jpeg"), str(tmp_path / "a")]) == [c, a, b]  # each once
    assert collect_images([str(tmp_path / "**" / "y.*")]) == [b]


@pytest.mark.parametrize("make,message", [
    (lambda root: str(root), r"no images \(.jpg, .jpeg, .png, .bmp\) in the folder '.*empty'"),
    (lambda root: str(root / "*.jpg"), r"the pattern '.*\*.jpg' matches nothing"),
    (lambda root: str(root / "sub" / "*"), r"matches 1 path\(s\), none an image"),
    (lambda root: str(root / "missing.jpg"), r"'.*missing.jpg' does not exist \(expected an image file"),
])
def test_a_folder_or_pattern_without_images_is_an_error(tmp_path, make, message):
    root = tmp_path / "empty"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "readme.txt").write_text("x")
    with pytest.raises((DataError, FileNotFoundError), match=message):
        collect_images([make(root)])


def test_top_k_ties_and_csv(tmp_path):
    probabilities = np.array([[0.25, 0.25, 0.5], [0.1, 0.6, 0.3]])
    assert top_k(probabilities, 2) == [[(2, 0.5), (0, 0.25)], [(1, 0.6), (2, 0.3)]]
    from src.prediction import Prediction, PredictionRun
    run = PredictionRun([Prediction("d/cat/1.jpg", [(2, 0.5), (0, 0.25)], 0)])
    text = predictions_csv(run, ["cat", "dog", "fox"], 2)
    assert text.splitlines() == ["path,true,top1,prob1,top2,prob2", "d/cat/1.jpg,cat,fox,0.500000,cat,0.250000"]
    assert [x for x in spread_over_classes(list(range(10)), lambda v: v % 3, 5)] == [0, 1, 2, 3, 4]


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


@pytest.mark.parametrize("extra,message", [
    (["--output", "p.txt"], "--output 'p.txt': unknown suffix '.txt'; expected .csv or .json"),
    (["--grid", "g.gif"], "--grid 'g.gif': unknown suffix '.gif'; expected one of"),
    (["--top_k", "0"], "--top_k must be at least 1, got 0"),
])
def test_predict_refuses_bad_options_before_loading_anything(tmp_path, extra, message, capsys):
    import predict as predict_script
    image = _jpeg(str(tmp_path / "x.jpg"))
    assert predict_script.main(["--checkpoint_path", str(tmp_path / "no.ckpt"), image] + extra) == 2
    assert message in capsys.readouterr().err


def test_predict_names_a_missing_or_unknown_model_file(tmp_path, capsys):
    import predict as predict_script
    image = _jpeg(str(tmp_path / "x.jpg"))
    assert predict_script.main(["--checkpoint_path", str(tmp_path / "no.ckpt"), image]) == 2
    assert "'" + str(tmp_path / "no.ckpt") + "' does not exist" in capsys.readouterr().err
    (tmp_path / "m.h5").write_text("x")
    assert predict_script.main(["--model_path", str(tmp_path / "m.h5"), image]) == 2
    assert "unknown suffix '.h5'; expected .ckpt, .onnx, .mindir" in capsys.readouterr().err
    (tmp_path / "empty.ckpt").write_text("")
    assert predict_script.main(["--checkpoint_path", str(tmp_path / "empty.ckpt"), str(tmp_path / "nothing")]) == 2
    assert "does not exist (expected an image file, a folder or a glob pattern)" in capsys.readouterr().err


@pytest.mark.parametrize("make,message", [
    (lambda root: root / "ckpt", "model file '{}' is a folder; pass the .ckpt, .onnx or .mindir file itself"),
    (lambda root: root / "run.ckpt", "model file '{}' is a folder; pass the .ckpt, .onnx or .mindir file itself"),
    (lambda root: root / "gone.mindir", "model file '{}' does not exist"),
    (lambda root: root / "weights.h5", "model file '{}': unknown suffix '.h5'; expected .ckpt, .onnx, .mindir"),
])
def test_predict_checks_the_model_file_before_mindspore_and_the_images(tmp_path, monkeypatch, capsys, make,
                                                                        message):
    """One error naming the model path, before MindSpore is set up and before the (here missing) images are
    looked at: a folder (even one named like a checkpoint), a missing file, an existing file of unknown kind."""
    import predict as predict_script
    import src.runtime

    def no_setup(*args, **kwargs):
        raise AssertionError("MindSpore was set up before the model file was checked")
    monkeypatch.setattr(src.runtime, "setup_runtime", no_setup)
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "run.ckpt").mkdir()
    (tmp_path / "weights.h5").write_text("x")
    model = make(tmp_path)
    photos = _jpeg(str(tmp_path / "photos" / "x.jpg"))
    for images in ([photos], [str(tmp_path / "no_such_photo.jpg")]):
        assert predict_script.main(["--checkpoint_path", str(model)] + images) == 2
        err = capsys.readouterr().err
        assert err == f"predict.py: error: {message.format(model)}\n"


def test_eval_refuses_an_unknown_confusion_suffix_before_any_work(capsys):
    import eval as eval_script
    assert eval_script.main(["--checkpoint_path", "x.ckpt", "--confusion", "c.bmp"]) == 2
    assert "--confusion 'c.bmp': unknown suffix '.bmp'" in capsys.readouterr().err


def test_result_json_keeps_its_keys(tmp_path):
    from src.engine.evaluation import write_result_json
    write_result_json({"top_1_accuracy": 0.5}, str(tmp_path / "r.json"), per_class={"a": {"accuracy": 1.0}})
    assert json.load(open(tmp_path / "r.json")) == {"top_1_accuracy": 0.5, "per_class": {"a": {"accuracy": 1.0}}}

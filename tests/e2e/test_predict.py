"""What a user checks after training: the run's summary.csv against its log lines, the curves and the prediction
grid, a resumed run's summary, predict.py against eval.py (checkpoint, ONNX, MINDIR), corrupt images, the
confusion matrix and per-class accuracy, and the progress lines of a long evaluation off a terminal."""
import csv
import json
import os
import re
import shutil

import mindspore as ms
import numpy as np
import pytest
from PIL import Image

import eval as eval_script
import predict as predict_script
import train as train_script
from src.engine.report import read_run
from tests.support import TINY

pytestmark = pytest.mark.slow

GREEN, RED = (26, 127, 55), (207, 34, 46)   # plots.CORRECT, plots.WRONG


def _pixels_near(image, colour, tolerance=30):
    return int(np.all(np.abs(image.astype(int) - colour) < tolerance, axis=2).sum())


def _not_blank(path, size):
    image = np.asarray(Image.open(path).convert("RGB"))
    assert (image.shape[1], image.shape[0]) == size, path
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50, path
    return image


def _log_epochs(lines):
    """Per epoch, the numbers the log lines show (the last process's lines win, as a resume redoes epochs)."""
    epochs, current = {}, None
    for line in lines:
        if m := re.search(r"epoch: (\d+) step: \[(\d+)/\d+\], loss: ([\d.]+), lr: ([\d.]+)", line):
            epoch = int(m.group(1))
            if int(m.group(2)) == 1:
                epochs[epoch] = {"losses": [], "lrs": {}}
            epochs[epoch]["losses"].append(float(m.group(3)))
            epochs[epoch]["lrs"][int(m.group(2))] = float(m.group(4))
        elif m := re.search(r"epoch: (\d+) step: \d+, loss is (\S+)$", line):
            current = int(m.group(1))
            epochs[current]["losses"].append(float(m.group(2)))
            epochs[current]["last_loss"] = m.group(2)
        elif m := re.search(r"epoch time: ([\d.]+) ms, per step time: [\d.]+ ms, ([\d.]+) img/s", line):
            epochs[current].update(ms=float(m.group(1)), rate=float(m.group(2)))
        elif m := re.search(r"epoch: (\d+) validation: top_1_accuracy ([\d.]+), top_5_accuracy ([\d.]+) .*; "
                            r"best ([\d.]+) at epoch (\d+)", line):
            epochs[int(m.group(1))].update(top1=float(m.group(2)), top5=float(m.group(3)), best=float(m.group(4)),
                                           best_epoch=int(m.group(5)))
    return epochs


def _summary(out):
    with open(os.path.join(out, "summary.csv"), newline="") as f:
        return list(csv.DictReader(f))


def test_summary_csv_holds_the_logged_numbers_and_a_resume_continues_it(synthetic_root, tmp_path):
    out = tmp_path / "run"
    base = TINY + ["--data_path", synthetic_root, "--output_dir", str(out), "--log_interval", "1",
                   "--eval_interval", "1", "--save_checkpoint_epochs", "1", "--keep_checkpoint_max", "3",
                   "--epoch_size", "3"]
    assert train_script.main(base) == 0
    first = _summary(out)
    assert [r["epoch"] for r in first] == ["1", "2", "3"]
    # resume after epoch 1 (as if killed during epoch 2): epochs 2 and 3 are redone, and written once
    assert train_script.main(base + ["--resume", str(out / "ckpt" / "ghostnet_050-1_16.ckpt")]) == 0
    rows = _summary(out)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0] == first[0]  # the epoch before the resume is kept as it was
    steps = list(csv.DictReader(open(out / "steps.csv", newline="")))
    assert [int(s["step"]) for s in steps] == list(range(1, 49))  # every step once, in order
    assert [int(s["epoch"]) for s in steps] == [e for e in (1, 2, 3) for _ in range(16)]

    log = (out / "train.log").read_text().splitlines()
    resumed_at = max(i for i, line in enumerate(log) if "resumed from " in line)
    logged = {**_log_epochs(log[:resumed_at]), **_log_epochs(log[resumed_at:])}
    assert sorted(logged) == [1, 2, 3]
    for row in rows:
        numbers = logged[int(row["epoch"])]
        epoch_steps = [s for s in steps if s["epoch"] == row["epoch"]]
        assert row["last_loss"] == numbers["last_loss"]                      # the `loss is` line, every digit
        assert len(numbers["losses"]) == 16                                   # log_interval 1: every step logged
        assert float(row["train_loss"]) == pytest.approx(np.mean(numbers["losses"]), abs=1e-6)  # logged .6f
        assert float(row["img_per_sec"]) == numbers["rate"]
        assert float(row["epoch_seconds"]) == pytest.approx(numbers["ms"] / 1000, abs=1e-6)
        assert round(float(row["val_top1"]), 4) == numbers["top1"]
        assert round(float(row["val_top5"]), 4) == numbers["top5"]
        assert (round(float(row["best_top1"]), 4), int(row["best_epoch"])) == (numbers["best"],
                                                                                numbers["best_epoch"])
        for step_in_epoch, lr in numbers["lrs"].items():
            assert float(epoch_steps[step_in_epoch - 1]["lr"]) == pytest.approx(lr, abs=5e-7)
        assert row["lr"] == epoch_steps[-1]["lr"]
    _not_blank(out / "curves.png", (1300, 400))

    # plot_run reads the same epochs back from the log alone (a run written before summary.csv existed)
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / "train.log", old / "train.log")
    from_log = read_run(str(old))
    assert [r.epoch for r in from_log.rows] == [1, 2, 3]
    for row, parsed in zip(rows, from_log.rows):
        assert parsed.last_loss == float(row["last_loss"])
        assert parsed.val_top1 == round(float(row["val_top1"]), 4)
        assert parsed.train_loss == pytest.approx(float(row["train_loss"]), abs=1e-6)


def test_the_trained_run_has_its_report_curves_and_prediction_grid(trained):
    rows = _summary(trained)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    validated = [int(r["epoch"]) for r in rows if r["val_top1"]]
    assert validated == [4, 8]  # eval_interval 4
    log = open(os.path.join(trained, "train.log")).read()
    for row in rows:
        assert f"epoch: {row['epoch']} step: 16, loss is {row['last_loss']}" in log
    best = max(float(r["val_top1"]) for r in rows if r["val_top1"])
    assert float(rows[-1]["best_top1"]) == best
    _not_blank(os.path.join(trained, "curves.png"), (1300, 400))
    grid = _not_blank(os.path.join(trained, "predictions.png"), (8 * 175, 200 + 50))
    right, shown = map(int, re.search(r"prediction grid: .*predictions.png \((\d+) of (\d+) right\)", log).groups())
    assert shown == 8
    # a green frame for each right image, a red one for each wrong one (frames are 3 px wide around 1.5 inch)
    assert (_pixels_near(grid, GREEN) > 300 * right) and (right == 8 or _pixels_near(grid, RED) > 300)


def _predict(model_path, inputs, tmp_path, name, *extra):
    output = str(tmp_path / f"{name}.json")
    assert predict_script.main(["--checkpoint_path", str(model_path), *inputs, "--output", output, *extra]) == 0
    return json.load(open(output))


def _per_class(predictions, classes):
    out = {}
    for cls in classes:
        mine = [p for p in predictions if p["true"] == cls]
        out[cls] = {"accuracy": sum(p["top"][0]["class"] == cls for p in mine) / len(mine),
                    "num_samples": len(mine)}
    return out


def test_predict_top1_equals_eval_for_checkpoint_onnx_and_mindir(exported, synthetic_root, tmp_path, capsys,
                                                                 monkeypatch):
    import src.progress
    monkeypatch.setattr(src.progress, "DELAY", 0.0)     # show the progress of this short evaluation...
    monkeypatch.setattr(src.progress, "INTERVAL", 0.0)  # ...every batch
    eval_json = str(tmp_path / "eval.json")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", exported["ckpt"],
                                    "--result_json", eval_json, "--eval_batch_size", "10"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("eval: ")]
    assert "\r" not in err and len(lines) == 7  # not a terminal: plain lines, one per batch of 10, and the end
    assert all(re.match(r"^eval: \d+/52 img \(\d+%\), [\d.]+ img/s, eta \d+:\d\d:\d\d$", x) for x in lines[:-1])
    assert re.match(r"^eval: done 52 img in \d+:\d\d:\d\d, [\d.]+ img/s$", lines[-1])
    expected = json.load(open(eval_json))
    classes = sorted(expected["per_class"])
    assert sum(c["num_samples"] for c in expected["per_class"].values()) == 52
    assert 0.3 < expected["top_1_accuracy"] < 1.0  # neither chance nor perfect: the comparison can tell
    val = os.path.join(synthetic_root, "val")
    tops = {}
    for name, path in (("ckpt", exported["ckpt"]), ("dynamic.onnx", exported["dir"] / "dynamic.onnx"),
                       ("fixed.onnx", exported["dir"] / "fixed.onnx"), ("model.mindir", exported["dir"] /
                                                                       "model.mindir")):
        result = _predict(path, [val], tmp_path, name, "--batch_size", "16")
        predictions = result["predictions"]
        assert len(predictions) == 52 and not result["skipped"] and result["classes"] == classes
        right = sum(p["top"][0]["class"] == p["true"] for p in predictions)
        assert right / 52 == expected["top_1_accuracy"], name
        assert _per_class(predictions, classes) == expected["per_class"], name
        assert all(len(p["top"]) == 4 for p in predictions)  # top-5 capped at the 4 classes
        tops[name] = [p["top"][0]["class"] for p in predictions]
    assert tops["ckpt"] == tops["dynamic.onnx"] == tops["fixed.onnx"] == tops["model.mindir"]
    table = capsys.readouterr().out
    assert re.search(r"^image\s+true\s+top-1\s+top-2\s+top-3\s+top-4$", table, re.M)
    assert re.search(r"disk_00000\.jpg\s+00_disk\s+\S+ \d\.\d{3}", table)


def test_predict_lists_and_skips_corrupt_images_and_draws_the_grid(trained, synthetic_root, tmp_path, capsys):
    photos = tmp_path / "photos"
    for cls in ("00_disk", "02_square", "03_vstripes"):
        (photos / cls).mkdir(parents=True)
        for name in sorted(os.listdir(os.path.join(synthetic_root, "val", cls)))[:2]:
            shutil.copy(os.path.join(synthetic_root, "val", cls, name), photos / cls / name)
    good = sorted(os.listdir(photos / "00_disk"))[0]
    data = (photos / "00_disk" / good).read_bytes()
    (photos / "00_disk" / "cut.jpg").write_bytes(data[:300])            # a truncated download
    (photos / "notes.png").write_text("not a picture")                  # a misnamed file
    (photos / "empty.jpg").write_bytes(b"")
    loose = photos / "loose.jpg"                                         # a folder that names no class
    shutil.copy(photos / "00_disk" / good, loose)
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050_best.ckpt")
    out_csv, grid = tmp_path / "p.csv", tmp_path / "p.png"
    assert predict_script.main(["--checkpoint_path", ckpt, str(photos), "--output", str(out_csv),
                                "--grid", str(grid)]) == 0
    err = capsys.readouterr().err
    assert "skipped 3 unreadable image(s)" in err
    for bad in ("cut.jpg'", "notes.png'", "empty.jpg'"):
        assert bad in err
    assert "truncated JPEG" in err and "not a JPEG, PNG or BMP file" in err and "empty file" in err
    rows = list(csv.DictReader(open(out_csv, newline="")))
    assert len(rows) == 7
    assert sorted(r["true"] for r in rows) == ["", "00_disk", "00_disk", "02_square", "02_square", "03_vstripes",
                                               "03_vstripes"]
    assert all(float(r["prob1"]) >= float(r["prob2"]) for r in rows)
    right = sum(r["true"] == r["top1"] for r in rows if r["true"])
    assert f"top-1 right on {right} of the 6 images whose folder names their class" in err
    image = _not_blank(grid, (7 * 175, 200 + 50))
    assert (_pixels_near(image, GREEN) > 300) == (right > 0)
    assert (_pixels_near(image, RED) > 300) == (right < 6)


def test_predict_on_a_checkpoint_without_record_names_classes_by_index(trained, synthetic_root, tmp_path):
    recorded = os.path.join(trained, "ckpt", "ghostnet_050_best.ckpt")
    bare = str(tmp_path / "bare.ckpt")
    entries = [{"name": k, "data": v} for k, v in ms.load_checkpoint(recorded).items() if not isinstance(v, str)]
    ms.save_checkpoint(entries, bare)
    images = [os.path.join(synthetic_root, "val", cls, sorted(os.listdir(os.path.join(synthetic_root, "val",
                                                                                        cls)))[0])
              for cls in ("00_disk", "01_hstripes", "02_square", "03_vstripes")]
    with_names = _predict(recorded, images, tmp_path, "named")
    by_index = _predict(bare, images, tmp_path, "bare")
    assert with_names["classes"] == ["00_disk", "01_hstripes", "02_square", "03_vstripes"]
    assert by_index["classes"] == ["0", "1", "2", "3"]
    assert all(p["true"] is None for p in by_index["predictions"])  # the folders name no index
    # without a record the model's default preprocessing applies (not the recorded 48 px one), so the top-1 may
    # differ from the recorded file's; the same weights under that preprocessing give exactly the bare file's output
    from dataclasses import replace

    from src.prediction import open_predictor, predict_files
    named, default = open_predictor(recorded), open_predictor(bare)
    assert named.preprocessing.image_size == 48 and default.preprocessing != named.preprocessing
    same = predict_files(replace(named, preprocessing=default.preprocessing), images, 32, 4)
    assert len(same.predictions) == len(by_index["predictions"]) == 4
    for mine, theirs in zip(same.predictions, by_index["predictions"]):
        assert [i for i, _ in mine.top] == [t["index"] for t in theirs["top"]]
        assert [p for _, p in mine.top] == pytest.approx([t["probability"] for t in theirs["top"]], abs=1e-5)


def test_predict_errors_on_a_folder_without_images_and_unreadable_models(trained, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050_best.ckpt")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert predict_script.main(["--checkpoint_path", ckpt, str(tmp_path / "empty")]) == 2
    assert "no images (.jpg, .jpeg, .png, .bmp) in the folder" in capsys.readouterr().err
    image = tmp_path / "x.jpg"
    Image.fromarray(np.zeros((30, 30, 3), np.uint8)).save(image)
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert predict_script.main(["--model_path", str(tmp_path / "bad.onnx"), str(image)]) == 2
    assert "cannot load ONNX file" in capsys.readouterr().err
    (tmp_path / "bad.ckpt").write_bytes(b"not a checkpoint")
    assert predict_script.main(["--checkpoint_path", str(tmp_path / "bad.ckpt"), str(image)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err
    (tmp_path / "only_bad").mkdir()
    (tmp_path / "only_bad" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    assert predict_script.main(["--checkpoint_path", ckpt, str(tmp_path / "only_bad")]) == 2
    assert "none of the 1 image(s) could be read" in capsys.readouterr().err


def test_eval_confusion_png_per_class_and_most_confused(trained, synthetic_root, tmp_path, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    result_json, picture = str(tmp_path / "r.json"), str(tmp_path / "confusion.png")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt, "--confusion",
                                    picture, "--result_json", result_json, "--confusion_top", "3"]) == 0
    out = capsys.readouterr().out
    assert "result: {'top_1_accuracy': " in out and f"confusion: {picture}" in out
    result = json.load(open(result_json))
    per_class = result["per_class"]
    assert sorted(per_class) == ["00_disk", "01_hstripes", "02_square", "03_vstripes"]
    assert all(v["num_samples"] == 13 for v in per_class.values())
    right = sum(round(v["accuracy"] * 13) for v in per_class.values())
    assert right / 52 == result["top_1_accuracy"]
    wrong = 52 - right
    pairs = result["most_confused"]
    assert 0 < len(pairs) <= 3 and wrong > 0
    assert all(a["count"] >= b["count"] for a, b in zip(pairs, pairs[1:]))
    for pair in pairs:
        assert re.search(rf"^\s+{pair['count']} x  {pair['true']} -> {pair['predicted']}$", out, re.M)
    image = np.asarray(Image.open(picture).convert("RGB"))
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 30

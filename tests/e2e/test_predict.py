"""predict.py end to end: top-1 equal to eval.py's for a checkpoint, ONNX and MINDIR files, corrupt images listed and
skipped, the grid drawn, classes by index without a record, and bad options, models and inputs named before any work."""
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
from tests.support import GREEN, RED, TINY, not_blank, pixels_near, write_jpeg


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


@pytest.mark.slow
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


@pytest.mark.slow
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
    image = not_blank(grid, (7 * 175, 200 + 50))
    assert (pixels_near(image, GREEN) > 300) == (right > 0)
    assert (pixels_near(image, RED) > 300) == (right < 6)


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.parametrize("extra,message", [
    (["--output", "p.txt"], "--output 'p.txt': unknown suffix '.txt'; expected .csv or .json"),
    (["--grid", "g.gif"], "--grid 'g.gif': unknown suffix '.gif'; expected one of"),
    (["--top_k", "0"], "--top_k must be at least 1, got 0"),
])
def test_predict_refuses_bad_options_before_loading_anything(tmp_path, extra, message, capsys):
    import predict as predict_script
    image = write_jpeg(str(tmp_path / "x.jpg"))
    assert predict_script.main(["--checkpoint_path", str(tmp_path / "no.ckpt"), image] + extra) == 2
    assert message in capsys.readouterr().err


def test_predict_names_a_missing_or_unknown_model_file(tmp_path, capsys):
    import predict as predict_script
    image = write_jpeg(str(tmp_path / "x.jpg"))
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
    photos = write_jpeg(str(tmp_path / "photos" / "x.jpg"))
    for images in ([photos], [str(tmp_path / "no_such_photo.jpg")]):
        assert predict_script.main(["--checkpoint_path", str(model)] + images) == 2
        err = capsys.readouterr().err
        assert err == f"predict.py: error: {message.format(model)}\n"

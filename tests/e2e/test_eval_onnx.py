"""eval_onnx.py end to end: exported files score exactly what eval.py scores, and its errors."""
import json

import pytest

import eval as eval_script
import eval_onnx as eval_onnx_script
from src.deploy import export_model
from src.models import create_model
from tests.support import TINY


@pytest.mark.slow
def test_onnx_accuracy_equals_eval(exported, synthetic_root, tmp_path):
    eval_json = str(tmp_path / "eval.json")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", exported["ckpt"],
                                    "--result_json", eval_json]) == 0
    expected = json.load(open(eval_json))
    assert 0.3 < expected["top_1_accuracy"] < 1.0  # a discriminating check: neither chance nor perfect
    for onnx_file, batch in (("fixed.onnx", 32), ("dynamic.onnx", 10)):  # fixed batch 1 and a padded dynamic one
        out_json = str(tmp_path / f"{onnx_file}.json")
        assert eval_onnx_script.main(["--onnx_path", str(exported["dir"] / onnx_file), "--data_path",
                                      synthetic_root, "--config", exported["recipe"], "--batch_size", str(batch),
                                      "--result_json", out_json]) == 0
        got = json.load(open(out_json))
        assert got["num_samples"] == expected["num_samples"] == 52
        assert got["top_1_accuracy"] == expected["top_1_accuracy"]
        assert got["top_5_accuracy"] == expected["top_5_accuracy"]


@pytest.mark.slow
def test_eval_onnx_errors(exported, synthetic_root, tmp_path, capsys):
    args = ["--data_path", synthetic_root, "--config", exported["recipe"]]
    assert eval_onnx_script.main(["--onnx_path", str(tmp_path / "none.onnx")] + args) == 2
    assert "none.onnx' does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert eval_onnx_script.main(["--onnx_path", str(bad)] + args) == 2
    assert "cannot load ONNX file" in capsys.readouterr().err
    # a file without a model record (and no recipe) gets the defaults: crop 224, but the file takes 48
    plain = export_model(create_model("ghostnet_050", num_classes=4), str(tmp_path / "plain"), "ONNX", 1, 48)
    assert eval_onnx_script.main(["--onnx_path", plain, "--data_path", synthetic_root]) == 2
    err = capsys.readouterr().err
    assert "takes 48x48 inputs" in err and "the file records no preprocessing" in err
    # export.py's files carry their record: no recipe needed, and without --data_path the recorded data is scored
    assert eval_onnx_script.main(["--onnx_path", str(exported["dir"] / "fixed.onnx")]) == 0
    assert "result: {'top_1_accuracy': " in capsys.readouterr().out

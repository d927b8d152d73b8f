"""benchmark.py end to end: tiny runs (so the script cannot rot) against timm, on onnxruntime and of the data
pipeline, its errors, and model lists. No timed assertions: speed is shown by running the benchmark."""
import csv
import importlib.util
import os

import pytest

import benchmark as benchmark_script
from src.models import count_params, create_model, list_models
from src.weights import get_tag
from src.weights.resolve import _write, tag_record


TINY = ["--image_size", "32", "--batch_size", "2", "--warmup", "1", "--iters", "1"]


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_tiny_infer_and_train_run_and_write_the_csv(tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert benchmark_script.main(["--model", "mobilenet_v1_025", "--bench", "both", "--results_file", str(out)]
                                 + TINY) == 0
    printed = capsys.readouterr().out
    assert "| mobilenet_v1_025 | infer | mindspore |" in printed and "ONEDNN_MAX_CPU_ISA=AVX2" in printed
    rows = _rows(out)
    assert [(r["model"], r["bench"]) for r in rows] == [("mobilenet_v1_025", "infer"), ("mobilenet_v1_025", "train")]
    params = count_params(create_model("mobilenet_v1_025"))
    for row in rows:
        assert float(row["img_s"]) > 0 and float(row["ms_step"]) > 0 and float(row["cpu_ms_step"]) > 0
        assert float(row["compile_s"]) > 0 and float(row["peak_rss_mb"]) > 100
        assert int(row["params"]) == params and int(row["macs"]) > 0
        assert row["batch_size"] == "2" and row["image_size"] == "32" and row["runs"] == "1"


def test_pretrained_tag_times_the_network_its_file_holds(tmp_path, monkeypatch, capsys):
    """--pretrained resolves a tag (here found converted in the cache) and the worker builds the network the file
    holds: MindCV's MobileNetV1 weights have 1001 classes, so its parameter count differs from --model's."""
    tag = get_tag("mobilenet_v1_025.mindcv")
    net = create_model(tag.model, num_classes=tag.num_classes)
    home = tmp_path / "home"
    os.makedirs(home / "converted")
    _write({k: v.asnumpy() for k, v in net.parameters_dict().items()}, tag_record(tag, tag.num_classes),
           str(home / "converted" / f"{tag.name}.ckpt"))
    monkeypatch.setenv("GHOSTZOO_HOME", str(home))
    out = tmp_path / "results.csv"
    assert benchmark_script.main(["--pretrained", tag.name, "--bench", "infer", "--results_file", str(out)]
                                 + TINY) == 0
    assert f"weights: {home / 'converted' / tag.name}.ckpt (mobilenet_v1_025)" in capsys.readouterr().out
    (row,) = _rows(out)
    assert row["model"] == "mobilenet_v1_025" and tag.num_classes == 1001
    assert int(row["params"]) == count_params(net) != count_params(create_model(tag.model))
    for args, message in [(["--model", "ghostnet_100"], "holds weights of mobilenet_v1_025, but --model is"),
                          (["--bench", "data"], "--bench data times the input pipeline, not a network"),
                          (["--model_list", str(out)], "holds one network: drop --model_list")]:
        assert benchmark_script.main(["--pretrained", tag.name] + args) == 2
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_tiny_reference_run_alternates_with_timm(tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert benchmark_script.main(["--model", "mobilenet_v1_100,mobilenet_v1_050", "--bench", "both",
                                  "--reference", "timm", "--repeats", "2", "--results_file", str(out)] + TINY) == 0
    rows = {(r["model"], r["bench"]): r for r in _rows(out)}
    for bench in ("infer", "train"):
        row = rows[("mobilenet_v1_100", bench)]
        assert row["ref_model"] == "mobilenetv1_100" and row["runs"] == "2"
        assert len(row["ref_img_s_runs"].split(";")) == 2
        assert row["params"] == row["ref_params"]          # the same network in both frameworks
        assert float(row["speed_ratio"]) > 0 and float(row["rss_ratio"]) > 0
        assert rows[("mobilenet_v1_050", bench)]["ref_model"] == ""
        assert "no MobileNetV1 0.5" in rows[("mobilenet_v1_050", bench)]["note"]
    assert "timm 1.0" in capsys.readouterr().out


@pytest.mark.slow
def test_tiny_onnxruntime_backend_times_both_exports(tmp_path):
    out = tmp_path / "results.csv"
    assert benchmark_script.main(["--model", "mobilenet_v1_100", "--bench", "infer", "--backend", "onnxruntime",
                                  "--reference", "timm", "--results_file", str(out)] + TINY) == 0
    (row,) = _rows(out)
    assert row["backend"] == "onnxruntime" and float(row["img_s"]) > 0 and float(row["ref_img_s"]) > 0


@pytest.mark.slow
def test_tiny_data_pipeline_run(tmp_path):
    out = tmp_path / "results.csv"
    assert benchmark_script.main(["--bench", "data", "--model", "ghostnet_050", "--data_images", "24",
                                  "--data_image_size", "48", "--image_size", "32", "--batch_size", "4",
                                  "--results_file", str(out)]) == 0
    rows = _rows(out)
    assert [r["bench"] for r in rows] == ["data-train", "data-val"]
    assert all(float(r["img_s"]) > 0 for r in rows)


@pytest.mark.parametrize("args, message", [
    (["--model", "ghostnet_10"], "unknown model 'ghostnet_10'"),
    (["--model", "resnet*"], "no model matches 'resnet*'"),
    (["--model_list", "/nonexistent/list.txt"], "does not exist"),
    (["--bench", "train", "--backend", "onnxruntime"], "onnxruntime times inference only"),
    (["--iters", "0"], "--iters must be at least 1"),
    (["--reference", "timm", "--amp_level", "O3"], "use --amp_level O0"),
    (["--reference_map", "ghostnet_600m"], "is not OURS=TIMM"),
    (["--baseline", "/tmp"], "not a checkout of this repository"),
])
def test_bad_input_is_one_clear_error(args, message, capsys):
    assert benchmark_script.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_timm_is_named(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(benchmark_script.importlib.util, "find_spec",
                        lambda name, *a: None if name == "timm" else real(name, *a))
    assert benchmark_script.main(["--reference", "timm"]) == 2
    assert "needs timm: pip install -r requirements-dev.txt" in capsys.readouterr().err


def test_model_list_file_and_patterns(tmp_path):
    listing = tmp_path / "models.txt"
    listing.write_text("# families\nghostnet_100\nmobilenet_v1_*  # every width\n")
    names = benchmark_script.resolve_models(["ghostnet_100,genet_res50_theta"], str(listing))
    assert names == ["ghostnet_100", "genet_res50_theta"] + list_models("mobilenet_v1_*")
    assert benchmark_script.resolve_models([], "") == list(benchmark_script.DEFAULT_MODELS)

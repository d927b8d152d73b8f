"""Whole commands given contradicting values, unwritable destinations and files without a record: each is refused
with one clear line before the work starts, and a refused training run leaves no folder behind."""
import os

import numpy as np
import pytest

from tests.support import ROOT, TINY, run_script, write_image_folder

IMAGENET_RECIPE = os.path.join(ROOT, "configs", "ghostnet_050_imagenet.yaml")


def _refuse(*_, **__):
    pytest.fail("the work started although an input was bad")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 2-class mobilenet_v1_025 checkpoint and its 32x32 ONNX export without a model record."""
    import mindspore as ms
    from src.deploy import export_model
    from src.models import create_model
    out = tmp_path_factory.mktemp("tiny_model")
    net = create_model("mobilenet_v1_025", num_classes=2)
    ckpt = str(out / "tiny.ckpt")
    ms.save_checkpoint(net, ckpt)
    onnx = export_model(net, str(out / "bare"), "ONNX", 1, 32)
    return {"ckpt": ckpt, "onnx": onnx}


def test_refused_training_run_leaves_no_output_folder(tmp_path, capsys):
    import train as train_script
    data = write_image_folder(str(tmp_path / "data"), np.random.default_rng(0), classes=1, per_class=2, size=16)
    out = tmp_path / "out" / "run"
    assert train_script.main(TINY + ["--data_path", data, "--output_dir", str(out)]) == 2
    assert "at least two classes" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_refused_run_in_an_existing_folder_keeps_it(tmp_path, capsys):
    import train as train_script
    data = write_image_folder(str(tmp_path / "data"), np.random.default_rng(0), classes=1, per_class=2, size=16)
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert train_script.main(TINY + ["--data_path", data, "--output_dir", str(out)]) == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_recipe_class_count_against_the_data_is_refused(tmp_path, capsys):
    import train as train_script
    data = write_image_folder(str(tmp_path / "data"), np.random.default_rng(0), classes=3, per_class=2, size=16)
    args = ["--config", IMAGENET_RECIPE, "--data_path", data, "--output_dir", str(tmp_path / "out"), "--epoch_size",
            "1", "--warmup_epochs", "0", "--batch_size", "2", "--image_size", "32", "--eval_interval", "0",
            "--log_interval", "0"]
    assert train_script.main(args) == 2
    err = capsys.readouterr().err
    assert "has 3 classes but the model has num_classes=1000 (set by the recipe" in err
    assert "--num_classes 3" in err and err.count("error:") == 1
    assert train_script.main(args + ["--num_classes", "5"]) == 2  # set deliberately: still refused
    assert "num_classes=5 (set by the command line)" in capsys.readouterr().err


def test_mindspores_compile_cache_is_refused(tiny_model, tmp_path, capsys, monkeypatch):
    """MindSpore's compile cache keys graphs by the entry script's files only: with it, a second train.py run with
    another --label_smooth_factor trained on the first run's graph, loss for loss. Refused before any work."""
    import eval as eval_script
    import train as train_script
    monkeypatch.setenv("MS_COMPILER_CACHE_ENABLE", "1")
    monkeypatch.setenv("MS_COMPILER_CACHE_PATH", str(tmp_path / "cache"))
    monkeypatch.setattr(train_script, "Trainer", _refuse)
    data = write_image_folder(str(tmp_path / "data"), np.random.default_rng(0), classes=4, per_class=2, size=16)
    out = tmp_path / "out"
    assert train_script.main(TINY + ["--data_path", data, "--output_dir", str(out), "--batch_size", "2"]) == 2
    assert "MS_COMPILER_CACHE_ENABLE=1" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "cache").exists()
    monkeypatch.setattr(eval_script, "evaluate", _refuse)
    assert eval_script.main(["--checkpoint_path", tiny_model["ckpt"], "--model", "mobilenet_v1_025",
                             "--data_path", data]) == 2
    assert "unset MS_COMPILER_CACHE_ENABLE" in capsys.readouterr().err


def test_eval_result_json_destination_is_checked_first(tmp_path, capsys, monkeypatch):
    import eval as eval_script
    monkeypatch.setattr(eval_script, "open_checkpoint", _refuse)
    (tmp_path / "a_file").write_text("x")
    assert eval_script.main(["--checkpoint_path", str(tmp_path / "m.ckpt"), "--result_json",
                             str(tmp_path / "a_file" / "r.json")]) == 2
    assert "--result_json" in capsys.readouterr().err


def test_export_destination_is_checked_first(tiny_model, tmp_path, capsys, monkeypatch):
    import export as export_script
    monkeypatch.setattr(export_script, "export_model", _refuse)
    (tmp_path / "a_file").write_text("x")
    for file_format in ("ONNX", "MINDIR"):
        assert export_script.main(["--checkpoint_path", tiny_model["ckpt"], "--model", "mobilenet_v1_025",
                                   "--file_format", file_format, "--file_name",
                                   str(tmp_path / "a_file" / "m")]) == 2
        err = capsys.readouterr().err
        assert "--file_name" in err and "is a file, not a folder" in err and "No such file" not in err


def test_benchmark_results_file_is_checked_first(tmp_path, capsys, monkeypatch):
    import benchmark as benchmark_script
    monkeypatch.setattr(benchmark_script, "run_worker", _refuse)
    (tmp_path / "a_file").write_text("x")
    assert benchmark_script.main(["--model", "mobilenet_v1_025", "--bench", "infer", "--results_file",
                                  str(tmp_path / "a_file" / "r.csv")]) == 2
    assert "--results_file" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_named(tmp_path):
    from src.errors import OutputError
    from src.outputs import check_output_file
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    with pytest.raises(OutputError, match="not writable"):
        check_output_file(str(tmp_path / "ro" / "r.json"), "--result_json")


def test_predict_on_a_recordless_onnx_of_another_size(tiny_model, tmp_path, capsys):
    import predict as predict_script
    images = write_image_folder(str(tmp_path / "images"), np.random.default_rng(0), classes=1, per_class=1, size=16)
    assert predict_script.main([images, "--checkpoint_path", tiny_model["onnx"], "--model", "mobilenet_v1_025"]) == 2
    err = capsys.readouterr().err
    assert "takes 32x32 images but the default preprocessing of --model mobilenet_v1_025 crops 224x224" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_resume_with_another_batch_size_is_refused(trained, synthetic_root, tmp_path, capsys):
    import train as train_script
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    args = TINY + ["--data_path", synthetic_root, "--output_dir", str(tmp_path / "out"), "--resume", ckpt,
                   "--epoch_size", "9"]
    assert train_script.main(args + ["--batch_size", "64"]) == 2
    err = capsys.readouterr().err
    assert "was trained with batch_size 32, this run has 64" in err and "--batch_size 32" in err


@pytest.mark.slow
def test_infer_310_keeps_earlier_results_when_the_build_fails(tiny_model, tmp_path):
    """Without the Ascend toolkit the harness does not build: the earlier run's results stay as they were."""
    import mindspore as ms
    from src.data.preprocessing import Preprocessing
    from src.deploy import export_model
    from src.engine.record import ModelRecord
    from src.models import create_model
    net = create_model("mobilenet_v1_025", num_classes=2)
    ms.load_checkpoint(tiny_model["ckpt"], net)
    record = ModelRecord("mobilenet_v1_025", 2, Preprocessing(32, 32, "bilinear", (0.5,) * 3, (0.5,) * 3))
    mindir = export_model(net, str(tmp_path / "m"), "MINDIR", 1, 32, record=record)
    images = write_image_folder(str(tmp_path / "images"), np.random.default_rng(0), classes=2, per_class=1, size=16)
    work = tmp_path / "work"
    (work / "result_Files").mkdir(parents=True)
    (work / "result_Files" / "img_0_0.bin").write_bytes(b"1234")
    (work / "time_Result").mkdir()
    (work / "acc.log").write_text("Total data: 2, top1 accuracy: 0.5, top5 accuracy: 1.0.\n")
    proc = run_script("run_infer_310.sh", mindir, images, "0", cwd=str(work))
    assert proc.returncode != 0 and "build failed" in proc.stderr
    assert (work / "result_Files" / "img_0_0.bin").read_bytes() == b"1234" and (work / "time_Result").is_dir()
    assert (work / "acc.log").is_file()


def test_output_folder_inside_flat_class_folders_is_refused(tmp_path, capsys):
    import train as train_script
    data = write_image_folder(str(tmp_path / "data"), np.random.default_rng(0), classes=2, per_class=2, size=16)
    out = os.path.join(data, "run")
    assert train_script.main(TINY + ["--data_path", data, "--output_dir", out]) == 2
    assert "lies inside the class folders" in capsys.readouterr().err and not os.path.exists(out)

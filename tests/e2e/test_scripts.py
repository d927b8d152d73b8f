"""The shell scripts of one process: usage and argument checks, a real CPU train and eval run through them, the 310
inference script and the ONNX evaluation script. The distributed launchers are in test_launchers.py."""
import os
import subprocess

import pytest

from tests.support import ROOT, run_script as run


@pytest.mark.parametrize("script", ["run_standalone_train.sh", "run_train_cpu.sh", "run_eval.sh"])
def test_usage_without_arguments(script):
    proc = run(script)
    assert proc.returncode == 1 and "Usage: bash" in proc.stderr


def test_argument_errors(tmp_path):
    proc = run("run_train_cpu.sh", "mnist", str(tmp_path))
    assert proc.returncode == 1 and "unknown data set 'mnist'" in proc.stderr
    proc = run("run_standalone_train.sh", str(tmp_path / "missing"))
    assert proc.returncode == 1 and "missing' is not a directory" in proc.stderr
    proc = run("run_eval.sh", str(tmp_path), str(tmp_path / "x.ckpt"))
    assert proc.returncode == 1 and "x.ckpt' does not exist" in proc.stderr
    proc = run("run_standalone_train.sh", str(tmp_path), str(tmp_path / "pre.ckpt"))
    assert proc.returncode == 1 and "PRETRAINED_CKPT_PATH" in proc.stderr


@pytest.mark.slow
def test_cpu_train_then_eval_through_scripts(synthetic_root, tmp_path):
    env = {"CONFIG": os.path.join(ROOT, "configs", "quickstart.yaml")}
    extra = ["--", "--dataset", "imagenet", "--num_classes", "4", "--log_interval", "0"]
    # MindSpore's default log level (warnings shown, conftest hides them), as a user runs it
    proc = run("run_train_cpu.sh", "imagenet2012", synthetic_root, *extra, "--epoch_size", "1", "--eval_interval",
               "0", cwd=tmp_path, env=dict(env, GLOG_v="2"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (tmp_path / "train_cpu" / "log").read_text()
    assert "epoch: 1 step: 16, loss is" in log
    # the log holds stderr too: MindSpore printed no warning (our BatchNorm once drew one per layer from auto-monad)
    assert "[WARNING]" not in log, [line for line in log.splitlines() if "[WARNING]" in line][:3]
    ckpt = tmp_path / "train_cpu" / "ckpt" / "ghostnet_050-1_16.ckpt"
    assert ckpt.is_file()
    proc = run("run_eval.sh", synthetic_root, str(ckpt), *extra, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy'" in (tmp_path / "eval" / "log").read_text()


@pytest.mark.slow
def test_failing_training_fails_the_script(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    proc = run("run_train_cpu.sh", "imagenet2012", str(tmp_path / "data"), cwd=tmp_path)
    assert proc.returncode != 0
    assert "no class sub-folders" in (tmp_path / "train_cpu" / "log").read_text()


def _script(name, *args, cwd):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_run_infer_310_script(exported, synthetic_root, tmp_path):
    val = os.path.join(synthetic_root, "val")
    mindir = str(exported["dir"] / "model.mindir")
    proc = _script("run_infer_310.sh", cwd=tmp_path)
    assert proc.returncode == 1 and "Usage" in proc.stderr
    # without the MindSpore C++ package the harness does not build: the script stops and names build.log
    proc = _script("run_infer_310.sh", mindir, val, "0", cwd=tmp_path)
    assert proc.returncode != 0 and "build failed; see" in proc.stderr and "build.log" in proc.stderr
    proc = _script("run_infer_310.sh", mindir, val, "0", "--reference", "--", "--image_size=48",
                   "--resize_size=48", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "using the Python reference runner" in proc.stdout
    assert (tmp_path / "acc.log").read_text().startswith("Total data: 52, top1 accuracy: ")


@pytest.mark.slow
def test_run_eval_onnx_script(exported, synthetic_root, tmp_path):
    proc = _script("run_eval_onnx.sh", "x.onnx", cwd=tmp_path)
    assert proc.returncode == 1 and "Usage" in proc.stderr
    proc = _script("run_eval_onnx.sh", str(exported["dir"] / "fixed.onnx"), synthetic_root, "TPU", cwd=tmp_path)
    assert proc.returncode == 1 and "unknown DEVICE_TARGET 'TPU'" in proc.stderr
    env = dict(os.environ, CONFIG=exported["recipe"])
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run_eval_onnx.sh"),
                           str(exported["dir"] / "fixed.onnx"), synthetic_root], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "result: {'top_1_accuracy'" in (tmp_path / "eval_onnx" / "log").read_text()

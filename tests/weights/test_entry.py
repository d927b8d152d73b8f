"""The front doors with published weights: predict.py --pretrained TAG (found converted in the cache, no network)
prints ImageNet's class names; validate.py in MindCV's own command form scores a checkpoint MindCV wrote."""
import os
import subprocess
import sys

import numpy as np
import pytest

from src.models import create_model
from src.weights import get_tag, imagenet_classes
from src.weights.resolve import _write, tag_record
from tests.support import ROOT, write_image_folder

pytestmark = pytest.mark.slow


def run(script, *args, env=None):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, **(env or {})))


def test_predict_pretrained_tag_from_the_cache_prints_class_names(tmp_path):
    tag = get_tag("ghostnet_050.mindcv")
    params = {k: v.asnumpy() for k, v in create_model("ghostnet_050").parameters_dict().items()}
    os.makedirs(tmp_path / "home" / "converted")
    _write(params, tag_record(tag, 1000), str(tmp_path / "home" / "converted" / "ghostnet_050.mindcv.ckpt"))
    images = write_image_folder(str(tmp_path / "images"), np.random.default_rng(0), classes=1, per_class=2)
    done = run("predict.py", "--pretrained", "ghostnet_050.mindcv", images, "--top_k", "1", "--device_target",
               "CPU", "--mode", "pynative", env={"GHOSTZOO_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if "img_" in line]
    names = set(imagenet_classes())
    assert len(rows) == 2
    assert all(any(name in row for name in names) for row in rows), done.stdout


def test_validate_in_mindcv_form_scores_a_mindcv_checkpoint(tmp_path):
    mindcv = pytest.importorskip("mindcv")
    import mindspore as ms
    path = str(tmp_path / "ghostnet_050-85b91860.ckpt")
    ms.save_checkpoint(mindcv.create_model("ghostnet_050", num_classes=1000), path)
    data = tmp_path / "data"
    write_image_folder(str(data / "val"), np.random.default_rng(1), classes=3, per_class=2)
    done = run("validate.py", "-c", os.path.join(ROOT, "configs", "ghostnet_050_imagenet.yaml"), "--data_dir",
               str(data), "--ckpt_path", path, "--device_target", "CPU", "--mode", "pynative")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "MindCV's names" in done.stdout + done.stderr
    assert "top_1_accuracy" in done.stdout + done.stderr


def test_fine_tune_from_a_mindcv_mobilenet_keeps_its_relu(tmp_path, synthetic_root):
    """A record-less MindCV MobileNetV1 (ReLU, 1001 outputs): the fine-tuned network is built with ReLU, gets a
    4-class head, and its checkpoints record act=relu for eval.py / predict.py / export.py."""
    mindcv = pytest.importorskip("mindcv")
    import mindspore as ms
    from src.engine.record import record_of
    from tests.support import TINY
    source = str(tmp_path / "mobilenet_v1_025-d3377fba.ckpt")
    ms.save_checkpoint(mindcv.create_model("mobilenet_v1_025", num_classes=1001), source)
    out = tmp_path / "run"
    done = run("train.py", *TINY, "--model", "mobilenet_v1_025", "--pretrained_ckpt", source, "--data_path",
               synthetic_root, "--epoch_size", "1", "--output_dir", str(out), "--device_target", "CPU",
               "--batch_size", "32", "--mode", "pynative")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    best = [os.path.join(out, "ckpt", n) for n in os.listdir(out / "ckpt") if n.endswith(".ckpt")]
    record = record_of(ms.load_checkpoint(best[0]))
    assert record.model == "mobilenet_v1_025" and record.num_classes == 4
    assert record.model_kwargs == {"act": "relu"}

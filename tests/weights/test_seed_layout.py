"""The seeds' folder layouts: a record-less checkpoint scored on ./dataset/test (the model zoo's fine-tuning layout)
and a family script called through a symbolic link."""
import os
import subprocess
import sys

import numpy as np
import pytest

from src.models import create_model
from tests.support import ROOT, write_image_folder

pytestmark = pytest.mark.slow


def test_record_less_checkpoint_scores_dataset_test(tmp_path):
    import mindspore as ms
    os.makedirs(tmp_path / "ckpt")
    ms.save_checkpoint(create_model("ghostnet_050", num_classes=3), str(tmp_path / "ckpt" / "ghostnet_1x_3-2_1.ckpt"))
    write_image_folder(str(tmp_path / "dataset" / "test"), np.random.default_rng(0), classes=3, per_class=2)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), "--device_target", "CPU", "--mode",
                           "pynative", "--checkpoint_path", "./ckpt/ghostnet_1x_3-2_1.ckpt"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-2000:]
    assert "dataset/test" in out and "top_1_accuracy" in out


def test_family_script_through_a_symbolic_link(tmp_path):
    link = tmp_path / "run_eval.sh"
    os.symlink(os.path.join(ROOT, "scripts", "ghostnet", "run_eval.sh"), link)
    done = subprocess.run(["bash", str(link)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert "Usage" in out and "No such file" not in out, out

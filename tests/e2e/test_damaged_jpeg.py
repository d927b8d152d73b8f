"""A JPEG with a damaged Huffman table in the validation folder: eval.py names it and stops with one error line
(before: MindSpore's decoder killed the process with SIGSEGV, exit status 139, no message)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.data.test_jpeg_check import issue_dht_file
from tests.support import ROOT, TINY, write_image_folder


@pytest.mark.slow
def test_eval_names_a_jpeg_with_a_damaged_huffman_table(tmp_path):
    import mindspore as ms
    from src.models import create_model
    write_image_folder(str(tmp_path / "data" / "val"), np.random.default_rng(1), classes=2, per_class=3)
    victim = tmp_path / "data" / "val" / "class_1" / "img_1.jpg"
    victim.write_bytes(issue_dht_file())
    ckpt = tmp_path / "net.ckpt"
    ms.save_checkpoint(create_model("ghostnet_050", num_classes=2), str(ckpt))
    args = TINY[:-2] + ["--num_classes", "2", "--data_path", str(tmp_path / "data"), "--checkpoint_path", str(ckpt),
                        "--image_check", "structure"]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py")] + args, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, GLOG_v="3"))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1500:])
    assert f"corrupt JPEG '{victim}'" in proc.stderr and "Huffman table" in proc.stderr
    assert "Traceback" not in proc.stderr

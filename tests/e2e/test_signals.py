"""SIGTERM during training (a cluster's notice before preemption): the run stops at the end of the step, writes a
checkpoint, says how to resume and exits 143; resuming from it ends bitwise where an uninterrupted run ends."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import train as train_script
from src.engine.checkpoint import read_checkpoint
from tests.support import FAST, ROOT, TINY_FAST, tensor_entries

pytestmark = pytest.mark.slow


def _wait_for(predicate, proc, timeout=600.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_sigterm_mid_epoch_stops_with_a_checkpoint_that_resumes_exactly(synthetic_root, tmp_path):
    # dropout off: MindSpore's CPU dropout is not bit-reproducible across processes
    base = TINY_FAST + ["--drop_rate", "0", "--mixup", "0.2", "--random_erasing", "0.5", "--data_path", synthetic_root,
                        "--epoch_size", "2", "--eval_interval", "0", "--log_interval", "1"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert train_script.main(base + ["--output_dir", str(straight)]) == 0

    env = dict(os.environ, GLOG_v="3")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + base + ["--output_dir", str(stopped)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = stopped / "train.log"
    try:
        assert _wait_for(lambda: log.exists() and "epoch: 1 step: [4/16]" in log.read_text(), proc), \
            "the run never reached step 4"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err
    ckpt = stopped / "ckpt" / f"{FAST}_interrupted.ckpt"
    state = read_checkpoint(str(ckpt))
    in_epoch = int(state["step_in_epoch"].asnumpy())
    assert 4 <= in_epoch < 16 and int(state["epoch_num"].asnumpy()) == 0  # inside the first epoch
    assert f"train.py: stopped by SIGTERM after step {in_epoch} of 16 of epoch 1 (global step {in_epoch})" in err
    text = log.read_text()
    assert "received SIGTERM: stopping at the end of the current step" in text
    assert f"wrote {ckpt}, which resumes exactly there" in text
    assert "to resume: python train.py --config " in text and f"--resume {ckpt}\n" in text  # run from ROOT
    assert not (stopped / "train.lock").exists()

    assert train_script.main(base + ["--output_dir", str(stopped), "--resume", str(ckpt)]) == 0
    assert f"resume: {in_epoch} of the 16 steps of epoch 1 were trained" in log.read_text()
    a = tensor_entries(straight / "ckpt" / f"{FAST}-2_16.ckpt")
    b = tensor_entries(stopped / "ckpt" / f"{FAST}-2_16.ckpt")
    assert set(a) == set(b) and any(k.startswith("moments.") for k in a)
    differ = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not differ, f"{len(differ)} entries differ, e.g. {differ[:3]}"
    # the deliberate contrast: the resumed run did train (the interrupted weights are not the final ones)
    assert not np.array_equal(tensor_entries(ckpt)["conv_stem.weight"], a["conv_stem.weight"])

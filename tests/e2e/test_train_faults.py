"""train.py under faults, nothing lost: kills mid-epoch and mid-write, resumes, checkpoint names, temp files, a full
disk, a shared output folder, and bad input refused before anything is written."""
import os
import re
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


# Every augmentation of the pipeline on, dropout off (MindSpore's CPU dropout is not bit-reproducible across
# processes): crops, flips, colour jitter, RandAugment, random erasing, mixup / cutmix.
AUGMENTED = ["--drop_rate", "0", "--color_jitter", "0.4", "--auto_augment", "randaugment", "--random_erasing",
             "0.5", "--mixup", "0.2", "--cutmix", "1.0", "--mix_prob", "0.5", "--eval_interval", "0"]


def _train_cmd(args):
    return [sys.executable, os.path.join(ROOT, "train.py")] + list(args)


def _env():
    return dict(os.environ, GLOG_v="3", ONEDNN_MAX_CPU_ISA=os.environ.get("ONEDNN_MAX_CPU_ISA", "AVX2"))


def _run(args, timeout=600):
    return subprocess.run(_train_cmd(args), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


def _wait_for(predicate, timeout=300.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _entries(path):
    return tensor_entries(path)


def test_resume_after_a_kill_mid_epoch_is_bitwise_exact(synthetic_root, tmp_path):
    """A run killed in epoch 3 and resumed from epoch 2 ends bitwise equal to an uninterrupted one, every entry of
    the checkpoint (weights, BN statistics, optimizer moments, step counter): the augmentation streams (crops,
    flips, every augmentation on) continue where they were, rather than restarting from the seed."""
    base = TINY_FAST + AUGMENTED + ["--data_path", synthetic_root, "--epoch_size", "3", "--log_interval", "2",
                                 "--save_checkpoint_epochs", "1"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert train_script.main(base + ["--output_dir", str(straight)]) == 0

    proc = subprocess.Popen(_train_cmd(base + ["--output_dir", str(killed)]), cwd=ROOT, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "train.log"
    try:
        in_epoch_3 = _wait_for(lambda: log.exists() and "epoch: 3 step: [" in log.read_text(), proc=proc)
        assert in_epoch_3, "the run never reached epoch 3"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ckpt2 = killed / "ckpt" / f"{FAST}-2_16.ckpt"
    assert ckpt2.exists() and not (killed / "ckpt" / f"{FAST}-3_16.ckpt").exists()
    assert train_script.main(base + ["--output_dir", str(killed), "--resume", str(ckpt2)]) == 0
    assert "resumed from " in log.read_text() and "global step 32" in log.read_text()

    a = _entries(straight / "ckpt" / f"{FAST}-3_16.ckpt")
    b = _entries(killed / "ckpt" / f"{FAST}-3_16.ckpt")
    assert set(a) == set(b)
    assert any(k.startswith("moments.") for k in a) and any(k.endswith("moving_mean") for k in a)
    differ = [k for k in a if not np.array_equal(a[k], b[k])]
    assert not differ, f"{len(differ)} entries differ, e.g. {differ[:3]}"
    # and the epoch that was redone moved the weights (the comparison is not of two copies of one file)
    start = _entries(ckpt2)
    assert not np.array_equal(start["conv_stem.weight"], a["conv_stem.weight"])


def test_checkpoint_names_keep_max_and_global_step_hold_across_resumes(synthetic_root, tmp_path):
    """Across resumes checkpoints keep the name `<model>-<epoch>_<steps>.ckpt` (MindSpore's saver would rename the
    prefix when files exist), keep_checkpoint_max counts every run's files, no graph.meta files pile up, and
    step_num / global_step count every step since the start."""
    out = tmp_path / "run"
    base = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--eval_interval", "0",
                        "--keep_checkpoint_max", "2", "--save_checkpoint_epochs", "1"]
    assert train_script.main(base + ["--epoch_size", "2"]) == 0
    for epochs in (3, 4):
        latest = out / "ckpt" / f"{FAST}-{epochs - 1}_16.ckpt"
        assert train_script.main(base + ["--epoch_size", str(epochs), "--resume", str(latest)]) == 0
    names = sorted(os.listdir(out / "ckpt"))
    assert names == [f"{FAST}-3_16.ckpt", f"{FAST}-4_16.ckpt"], names
    state = read_checkpoint(str(out / "ckpt" / f"{FAST}-4_16.ckpt"))
    assert int(state["step_num"].asnumpy()) == 4 * 16
    assert int(state["global_step"].asnumpy().reshape(-1)[0]) == 4 * 16
    assert int(state["epoch_num"].asnumpy()) == 4


def test_resume_keeps_a_better_best_checkpoint(synthetic_root, tmp_path):
    """A resumed run starts from the recorded best, so its first validation does not replace a better
    `<model>_best.ckpt`."""
    import mindspore as ms
    out = tmp_path / "run"
    base = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--eval_interval", "1"]
    assert train_script.main(base + ["--epoch_size", "1"]) == 0
    best = out / "ckpt" / f"{FAST}_best.ckpt"
    # Make the recorded best unbeatable: the same weights, recorded as top-1 1.0 at epoch 1.
    entries = [{"name": k, "data": ms.Tensor(v)} for k, v in _entries(best).items() if k != "top_1_accuracy"]
    entries.append({"name": "top_1_accuracy", "data": ms.Tensor(np.float32(1.0))})
    os.chmod(best, 0o600)
    os.remove(best)
    ms.save_checkpoint(entries, str(best))
    before = _entries(best)
    assert train_script.main(base + ["--epoch_size", "2", "--resume",
                                     str(out / "ckpt" / f"{FAST}-1_16.ckpt")]) == 0
    after = _entries(best)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    log = (out / "train.log").read_text()
    assert "the best so far is top-1 1.0000 at epoch 1" in log
    assert re.search(r"epoch: 2 validation: .* best 1\.0000 at epoch 1", log)


def test_a_run_removes_temp_files_of_an_earlier_killed_write(synthetic_root, tmp_path):
    """Temp files a kill during a write leaves (`<name>.tmp`, `<model>_best.ckpt.tmp.ckpt`) are removed by the next
    run; files of other models and other names stay."""
    out = tmp_path / "run"
    ckpt = out / "ckpt"
    ckpt.mkdir(parents=True)
    stale = [f"{FAST}-3_16.tmp", f"{FAST}_best.ckpt.tmp.ckpt", f"{FAST}-2_16.ckpt.tmp.tmp"]
    for name in stale:
        (ckpt / name).write_bytes(b"\0" * 1000)
    (ckpt / "notes.tmp").write_text("not ours")
    (ckpt / "other_model-1_2.tmp").write_text("not this model's")
    assert train_script.main(TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--epoch_size", "1",
                                          "--eval_interval", "0"]) == 0
    left = set(os.listdir(ckpt))
    assert not left & set(stale)
    assert {"notes.tmp", "other_model-1_2.tmp", f"{FAST}-1_16.ckpt"} <= left
    assert "removed 3 temp file(s)" in (out / "train.log").read_text()


KILL_IN_WRITE = """
import os, signal, sys
sys.path.insert(0, {root!r})
import mindspore as ms
real = ms.save_checkpoint
calls = []
def save_then_die(obj, path, **kwargs):
    calls.append(path)
    if len(calls) == 2:  # the second checkpoint: write half of it, then die as a SIGKILL would leave it
        real(obj, path, **kwargs)
        size = os.path.getsize(path)
        os.chmod(path, 0o600)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(obj, path, **kwargs)
ms.save_checkpoint = save_then_die
import train
sys.exit(train.main(sys.argv[1:]))
"""


def test_kill_during_a_checkpoint_write_loses_only_that_checkpoint(synthetic_root, tmp_path):
    out = tmp_path / "run"
    args = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--epoch_size", "3",
                        "--eval_interval", "0", "--save_checkpoint_epochs", "1"]
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE.format(root=ROOT)] + args, cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL
    names = set(os.listdir(out / "ckpt"))
    assert f"{FAST}-1_16.ckpt" in names and f"{FAST}-2_16.ckpt" not in names
    assert any(n.endswith(".tmp.ckpt") for n in names)  # the half-written file, never under a real name
    _entries(out / "ckpt" / f"{FAST}-1_16.ckpt")  # loads
    assert train_script.main(args + ["--resume", str(out / "ckpt" / f"{FAST}-1_16.ckpt")]) == 0
    names = set(os.listdir(out / "ckpt"))  # the temp file removed; keep_checkpoint_max 2 of the recipe
    assert names == {f"{FAST}-2_16.ckpt", f"{FAST}-3_16.ckpt"}, names


def test_disk_full_gives_one_error_line_and_keeps_earlier_checkpoints(synthetic_root, tmp_path):
    """A real write failure: the file-size limit (RLIMIT_FSIZE, `ulimit -f`) stops the checkpoint write with
    EFBIG: one error line, no traceback, no half-written file, the earlier checkpoint intact."""
    import resource
    out = tmp_path / "run"
    args = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--eval_interval", "0"]
    assert train_script.main(args + ["--epoch_size", "1"]) == 0
    first = out / "ckpt" / f"{FAST}-1_16.ckpt"
    before = _entries(first)
    limit = os.path.getsize(first) // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    proc = subprocess.run(_train_cmd(args + ["--epoch_size", "2", "--resume", str(first)]), cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600, preexec_fn=small_files)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "cannot write checkpoint" in errors[0] and f"{FAST}-2_16.ckpt" in errors[0]
    assert "file too large" in errors[0]
    assert sorted(os.listdir(out / "ckpt")) == [f"{FAST}-1_16.ckpt"]
    after = _entries(first)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_output_dir_that_is_a_file_is_refused_before_anything_is_written(synthetic_root, tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("a file")
    rc = train_script.main(TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(target),
                                        "--epoch_size", "1"])
    assert rc == 2
    assert f"output_dir '{target}' is a file" in capsys.readouterr().err


def test_bad_input_creates_no_output_folder(tmp_path, capsys):
    """The data path is checked before the output folder or train.log is created."""
    out = tmp_path / "never"
    rc = train_script.main(TINY_FAST + ["--data_path", str(tmp_path / "missing"), "--output_dir", str(out)])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
    assert not out.exists()


HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from src.outputs import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_two_runs_cannot_share_an_output_dir(synthetic_root, tmp_path, capsys):
    """A second run into a folder in use is refused (its checkpoints and config.yaml would mix with the first's);
    the lock of a run killed without releasing it is taken over."""
    out = tmp_path / "shared"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.format(root=ROOT), str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc = train_script.main(TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out),
                                            "--epoch_size", "1", "--eval_interval", "0"])
        assert rc == 2
        err = capsys.readouterr().err
        assert f"output_dir '{out}' is in use by another training run (pid {holder.pid} on host" in err
        assert not (out / "ckpt").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed without releasing: the next run takes the lock over
    assert train_script.main(TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--epoch_size", "1",
                                          "--eval_interval", "0"]) == 0
    assert f"took over the lock of a run that ended without releasing it (pid {holder.pid}" in \
        (out / "train.log").read_text()
    assert not (out / "train.lock").exists()  # released and removed at the end


def test_one_class_training_set_is_refused(tmp_path, capsys):
    from tests.support import write_image_folder
    write_image_folder(str(tmp_path / "data" / "train"), np.random.default_rng(0), classes=1, per_class=40)
    rc = train_script.main(TINY_FAST + ["--data_path", str(tmp_path / "data"), "--output_dir", str(tmp_path / "o"),
                                        "--epoch_size", "1"])
    assert rc == 2
    assert "has one class folder (class_0); a classifier needs at least two classes" in capsys.readouterr().err


def test_a_folder_passed_as_checkpoint_says_so(synthetic_root, tmp_path, capsys):
    """A folder given as eval.py's checkpoint is named as a folder, not as missing; train.py refuses one as --resume
    before anything is written."""
    import eval as eval_script
    folder = tmp_path / "ckpt"
    folder.mkdir()
    assert eval_script.main(TINY_FAST + ["--data_path", synthetic_root, "--checkpoint_path", str(folder)]) == 2
    assert f"'{folder}' is a folder, not a checkpoint file" in capsys.readouterr().err
    rc = train_script.main(TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(tmp_path / "o"),
                                        "--resume", str(folder)])
    assert rc == 2 and "--resume" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

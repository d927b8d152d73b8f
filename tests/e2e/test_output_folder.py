"""A new run into a used output folder: refused with the ways on, nothing of the earlier run touched; replaced only
with --overwrite true. The lock file goes when a run ends."""
import hashlib
import os

import pytest

from src.errors import OutputError
from src.outputs import LOCK_NAME, RunLock, check_new_run, clear_earlier_run
from tests.support import FAST, TINY_FAST


def _snapshot(folder):
    """{relative path: sha256} of every file under `folder`."""
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _touch(path, text="x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_a_folder_with_an_earlier_runs_results_is_refused_for_a_new_run(tmp_path):
    out = str(tmp_path / "run")
    _touch(os.path.join(out, "ckpt", "ghostnet_050-1_16.ckpt"))
    _touch(os.path.join(out, "summary.csv"))
    with pytest.raises(OutputError) as info:
        check_new_run(out, resume="", overwrite=False)
    message = str(info.value)
    assert f"output_dir '{out}' holds an earlier run (ckpt/ghostnet_050-1_16.ckpt, summary.csv)" in message
    assert f"--resume {os.path.join(out, 'ckpt', 'ghostnet_050-1_16.ckpt')}" in message
    assert "--output_dir" in message and "remove the folder" in message and "--overwrite true" in message
    check_new_run(out, resume=os.path.join(out, "ckpt", "ghostnet_050-1_16.ckpt"), overwrite=False)  # continues
    check_new_run(out, resume="", overwrite=True)


def test_a_folder_without_results_is_not_refused(tmp_path):
    """The deliberate contrast: temp files of a killed write, a log, a generated data set are no earlier run."""
    out = str(tmp_path / "run")
    check_new_run(out, "", False)  # does not exist yet
    for name in ("ckpt/ghostnet_050-2_16.ckpt.tmp.ckpt", "ckpt/ghostnet_050-2_16.tmp", "train.log",
                 "data/train/a/1.jpg", "notes.txt"):
        _touch(os.path.join(out, name))
    check_new_run(out, "", False)
    _touch(os.path.join(out, "ckpt", "pretrained.ckpt"))  # an input of the run is no earlier run either
    check_new_run(out, "", False, inputs=(os.path.join(out, "ckpt", "pretrained.ckpt"),))
    with pytest.raises(OutputError, match="holds an earlier run"):
        check_new_run(out, "", False)


def test_overwrite_clears_only_the_earlier_runs_results(tmp_path):
    out = str(tmp_path / "run")
    results = ["ckpt/ghostnet_050-1_16.ckpt", "ckpt/ghostnet_050_best.ckpt", "summary.csv", "steps.csv",
               "curves.png", "config.yaml"]
    kept = ["train.log", "data/train/a/1.jpg", "notes.txt", "ckpt/readme.txt", "ckpt/pretrained.ckpt"]
    for name in results + kept:
        _touch(os.path.join(out, name))
    os.chmod(os.path.join(out, "ckpt", "ghostnet_050-1_16.ckpt"), 0o400)  # as MindSpore writes them
    assert sorted(clear_earlier_run(out, inputs=(os.path.join(out, "ckpt", "pretrained.ckpt"),))) == sorted(results)
    assert sorted(_snapshot(out)) == sorted(kept)


def test_the_lock_file_goes_when_the_run_ends(tmp_path):
    out = str(tmp_path / "run")
    first = RunLock(out).acquire()
    assert os.path.isfile(os.path.join(out, LOCK_NAME))
    with pytest.raises(OutputError, match="in use by another training run"):
        RunLock(out).acquire()
    first.release()
    assert not os.path.exists(os.path.join(out, LOCK_NAME))
    with RunLock(out) as second:  # the folder can be locked again, and the new holder is no "taken over"
        assert second.taken_over is None
    assert os.listdir(out) == []


@pytest.mark.slow
def test_a_second_run_into_a_used_folder_leaves_the_first_intact(synthetic_root, tmp_path, capsys):
    import train as train_script
    out = tmp_path / "run"
    base = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--eval_interval", "1"]
    assert train_script.main(base + ["--epoch_size", "1"]) == 0
    assert not (out / LOCK_NAME).exists()  # a successful run leaves no lock file
    before = _snapshot(out)
    assert f"ckpt/{FAST}-1_16.ckpt" in before and "summary.csv" in before
    capsys.readouterr()

    assert train_script.main(base + ["--epoch_size", "1", "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert f"train.py: error: output_dir '{out}' holds an earlier run" in err, err[-2000:]
    assert _snapshot(out) == before  # nothing touched: checkpoints, summary, config, train.log

    assert train_script.main(base + ["--epoch_size", "1", "--seed", "7", "--overwrite", "true"]) == 0
    after = _snapshot(out)
    assert after[f"ckpt/{FAST}-1_16.ckpt"] != before[f"ckpt/{FAST}-1_16.ckpt"]  # a new run's weights
    log = (out / "train.log").read_text()
    assert f"--overwrite true: removed the earlier run's ckpt/{FAST}-1_16.ckpt" in log
    assert not (out / LOCK_NAME).exists()

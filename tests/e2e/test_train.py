"""train.py end to end on generated data: checkpoints, config, log, summary.csv and pictures of a run, resume,
CIFAR-10, distillation, lr scaling, the EMA, seeds, and bad input named in one line (also from a subprocess, where a
decoder crash would kill the process)."""
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import eval as eval_script
import train as train_script
from src.engine.checkpoint import read_checkpoint
from src.engine.distill import TEACHER_PREFIX
from src.engine.report import read_run
from src.models import create_model
from tests.support import FAST, GREEN, RED, ROOT, TINY, TINY_FAST, not_blank, pixels_near, write_image_folder


@pytest.mark.slow
def test_training_writes_checkpoints_config_and_log(trained):
    ckpts = sorted(os.path.basename(p) for p in glob.glob(os.path.join(trained, "ckpt", "*.ckpt")))
    assert "ghostnet_050-8_16.ckpt" in ckpts and "ghostnet_050_best.ckpt" in ckpts
    assert "ghostnet_050-2_16.ckpt" not in ckpts  # keep_checkpoint_max=2 removed the oldest
    assert os.path.isfile(os.path.join(trained, "config.yaml"))
    log = open(os.path.join(trained, "train.log")).read()
    assert "epoch: 8 step: 16, loss is " in log
    assert "per step time: " in log and "img/s" in log
    from src.engine.checkpoint import load_weights
    from src.models import create_model
    state = load_weights(create_model("ghostnet_050", num_classes=4), os.path.join(trained, "ckpt",
                                                                                    "ghostnet_050_best.ckpt"))
    assert 0.25 < float(state["top_1_accuracy"].asnumpy()) <= 1.0


@pytest.mark.slow
def test_resume_continues_epochs_optimizer_and_lr(trained, synthetic_root, tmp_path):
    start = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    rc = train_script.main(TINY + ["--data_path", synthetic_root, "--output_dir", str(tmp_path),
                                   "--epoch_size", "9", "--eval_interval", "0", "--resume", start])
    assert rc == 0
    ckpts = [os.path.basename(p) for p in glob.glob(str(tmp_path / "ckpt" / "*.ckpt"))]
    assert ckpts == ["ghostnet_050-9_16.ckpt"]
    state = read_checkpoint(str(tmp_path / "ckpt" / "ghostnet_050-9_16.ckpt"))
    assert int(state["global_step"].asnumpy().reshape(-1)[0]) == 9 * 16
    assert int(state["epoch_num"].asnumpy()) == 9
    # it continued from the trained weights: one more epoch, loss still low (a fresh start sits near ln 4 = 1.39)
    log = (tmp_path / "train.log").read_text()
    loss = float(log.split("epoch: 9 step: 16, loss is ")[1].split()[0])
    assert loss < 1.1


@pytest.mark.slow
def test_cifar10_train_and_eval(cifar_root, tmp_path, capsys):
    args = ["--model", "ghostnet_nose_050", "--num_classes", "10", "--dataset", "cifar10", "--image_size", "32",
            "--batch_size", "16", "--num_parallel_workers", "1", "--log_interval", "0", "--data_path", cifar_root]
    assert train_script.main(args + ["--output_dir", str(tmp_path), "--epoch_size", "1"]) == 0
    ckpt = str(tmp_path / "ckpt" / "ghostnet_nose_050-1_5.ckpt")
    assert eval_script.main(args + ["--checkpoint_path", ckpt]) == 0
    assert "result: {'top_1_accuracy'" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("extra,message", [
    (["--data_path", "/no/such/data"], "data path '/no/such/data' does not exist"),
    (["--model", "ghostnet_10"], "unknown model 'ghostnet_10' \\(did you mean .*ghostnet_100.*; known: .*ghostnet_050"),
    (["--epoch_sise", "3"], "unknown config key 'epoch_sise'.*epoch_size"),
    (["--data_path"], "argument --data_path: expected one argument"),
])
def test_bad_input_to_train(extra, message, synthetic_root, tmp_path, capsys):
    args = TINY + ["--data_path", synthetic_root, "--output_dir", str(tmp_path), "--epoch_size", "1"] + extra
    assert train_script.main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err


@pytest.mark.slow
def test_train_on_corrupt_jpeg_names_the_file(synthetic_root, tmp_path, capsys):
    import shutil
    data = tmp_path / "data"
    shutil.copytree(synthetic_root, data)
    victim = sorted(glob.glob(str(data / "train" / "*" / "*.jpg")))[200]
    with open(victim, "r+b") as f:
        f.truncate(30)
    rc = train_script.main(TINY + ["--data_path", str(data), "--output_dir", str(tmp_path / "out"),
                                   "--epoch_size", "1"])
    assert rc == 2
    assert f"truncated JPEG '{victim}'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "eval.py"])
def test_a_jpeg_cut_after_its_headers_gives_an_error_not_a_crash(script, tmp_path):
    """One error line and exit status 2, where MindSpore's decoder would die of SIGFPE (exit 136, no message). Run
    in a subprocess, since such a crash kills the process."""
    write_image_folder(str(tmp_path / "data" / "train"), np.random.default_rng(0), classes=2, per_class=40)
    write_image_folder(str(tmp_path / "data" / "val"), np.random.default_rng(1), classes=2, per_class=3)
    split = "train" if script == "train.py" else "val"
    victim = tmp_path / "data" / split / "class_1" / "img_1.jpg"
    victim.write_bytes(victim.read_bytes()[:400])
    args = TINY[:-2] + ["--num_classes", "2", "--data_path", str(tmp_path / "data"), "--epoch_size", "1"]
    if script == "train.py":
        args += ["--output_dir", str(tmp_path / "out")]
    else:
        import mindspore as ms
        from src.models import create_model
        ckpt = tmp_path / "net.ckpt"
        ms.save_checkpoint(create_model("ghostnet_050", num_classes=2), str(ckpt))
        args += ["--checkpoint_path", str(ckpt)]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + args, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, GLOG_v="3"))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1500:])
    assert f"truncated JPEG '{victim}'" in proc.stderr
    assert "python -m src.tools.check_images DIR lists every such file" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_same_seed_same_weights(synthetic_root, tmp_path):
    """Two runs with one seed end with identical weights (dropout off: MindSpore's CPU dropout is not
    bit-reproducible across processes, measured), and another seed gives other weights."""
    args = TINY_FAST + ["--data_path", synthetic_root, "--epoch_size", "1", "--eval_interval", "0", "--drop_rate", "0"]
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert train_script.main(args + ["--output_dir", str(tmp_path / name), "--seed", seed]) == 0
    weights = {n: read_checkpoint(str(tmp_path / n / "ckpt" / f"{FAST}-1_16.ckpt")) for n in "abc"}
    names = [k for k in weights["a"] if not k.startswith(("learning_rate", "global_step", "ghostzoo_record"))]
    for k in names:
        np.testing.assert_array_equal(weights["a"][k].asnumpy(), weights["b"][k].asnumpy(), err_msg=k)
    assert any(not np.array_equal(weights["a"][k].asnumpy(), weights["c"][k].asnumpy()) for k in names)


@pytest.mark.slow
def test_ema_with_augmentations_end_to_end(synthetic_root, tmp_path, capsys):
    args = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(tmp_path), "--epoch_size", "2",
                        "--eval_interval", "2", "--ema", "true", "--ema_decay", "0.9", "--mixup", "0.2", "--cutmix",
                        "1.0", "--mix_prob", "0.5", "--auto_augment", "randaugment", "--random_erasing", "0.25"]
    assert train_script.main(args) == 0
    out = capsys.readouterr().out
    assert "epoch: 2 EMA validation: top_1_accuracy" in out
    logged = float(out.split("epoch: 2 EMA validation: top_1_accuracy ")[1].split(",")[0])
    ema_ckpt = str(tmp_path / "ckpt" / f"{FAST}_ema.ckpt")
    result_json = str(tmp_path / "ema.json")
    assert eval_script.main(TINY_FAST + ["--data_path", synthetic_root, "--checkpoint_path", ema_ckpt,
                                         "--result_json", result_json]) == 0
    # eval.py on the saved average scores exactly what validation reported for it
    assert round(json.load(open(result_json))["top_1_accuracy"], 4) == logged
    # and the average differs from the last raw weights
    raw = read_checkpoint(str(tmp_path / "ckpt" / f"{FAST}-2_16.ckpt"))
    avg = read_checkpoint(ema_ckpt)
    assert not np.array_equal(raw["conv_stem.weight"].asnumpy(), avg["conv_stem.weight"].asnumpy())


def _log_epochs(lines):
    """Per epoch, the numbers the log lines show (the last process's lines win, as a resume redoes epochs)."""
    epochs, current = {}, None
    for line in lines:
        if m := re.search(r"epoch: (\d+) step: \[(\d+)/\d+\], loss: ([\d.]+), lr: ([\d.]+)", line):
            epoch = int(m.group(1))
            if int(m.group(2)) == 1:
                epochs[epoch] = {"losses": [], "lrs": {}}
            epochs[epoch]["losses"].append(float(m.group(3)))
            epochs[epoch]["lrs"][int(m.group(2))] = float(m.group(4))
        elif m := re.search(r"epoch: (\d+) step: \d+, loss is (\S+)$", line):
            current = int(m.group(1))
            epochs[current]["losses"].append(float(m.group(2)))
            epochs[current]["last_loss"] = m.group(2)
        elif m := re.search(r"epoch time: ([\d.]+) ms, per step time: [\d.]+ ms, ([\d.]+) img/s", line):
            epochs[current].update(ms=float(m.group(1)), rate=float(m.group(2)))
        elif m := re.search(r"epoch: (\d+) validation: top_1_accuracy ([\d.]+), top_5_accuracy ([\d.]+) .*; "
                            r"best ([\d.]+) at epoch (\d+)", line):
            epochs[int(m.group(1))].update(top1=float(m.group(2)), top5=float(m.group(3)), best=float(m.group(4)),
                                           best_epoch=int(m.group(5)))
    return epochs


def _summary(out):
    with open(os.path.join(out, "summary.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_summary_csv_holds_the_logged_numbers_and_a_resume_continues_it(synthetic_root, tmp_path):
    out = tmp_path / "run"
    base = TINY_FAST + ["--data_path", synthetic_root, "--output_dir", str(out), "--log_interval", "1",
                        "--eval_interval", "1", "--save_checkpoint_epochs", "1", "--keep_checkpoint_max", "3",
                        "--epoch_size", "3"]
    assert train_script.main(base) == 0
    first = _summary(out)
    assert [r["epoch"] for r in first] == ["1", "2", "3"]
    # resume after epoch 1 (as if killed during epoch 2): epochs 2 and 3 are redone, and written once
    assert train_script.main(base + ["--resume", str(out / "ckpt" / f"{FAST}-1_16.ckpt")]) == 0
    rows = _summary(out)
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert rows[0] == first[0]  # the epoch before the resume is kept as it was
    steps = list(csv.DictReader(open(out / "steps.csv", newline="")))
    assert [int(s["step"]) for s in steps] == list(range(1, 49))  # every step once, in order
    assert [int(s["epoch"]) for s in steps] == [e for e in (1, 2, 3) for _ in range(16)]

    log = (out / "train.log").read_text().splitlines()
    resumed_at = max(i for i, line in enumerate(log) if "resumed from " in line)
    logged = {**_log_epochs(log[:resumed_at]), **_log_epochs(log[resumed_at:])}
    assert sorted(logged) == [1, 2, 3]
    for row in rows:
        numbers = logged[int(row["epoch"])]
        epoch_steps = [s for s in steps if s["epoch"] == row["epoch"]]
        assert row["last_loss"] == numbers["last_loss"]                      # the `loss is` line, every digit
        assert len(numbers["losses"]) == 16                                   # log_interval 1: every step logged
        assert float(row["train_loss"]) == pytest.approx(np.mean(numbers["losses"]), abs=1e-6)  # logged .6f
        assert float(row["img_per_sec"]) == numbers["rate"]
        assert float(row["epoch_seconds"]) == pytest.approx(numbers["ms"] / 1000, abs=1e-6)
        assert round(float(row["val_top1"]), 4) == numbers["top1"]
        assert round(float(row["val_top5"]), 4) == numbers["top5"]
        assert (round(float(row["best_top1"]), 4), int(row["best_epoch"])) == (numbers["best"],
                                                                                numbers["best_epoch"])
        for step_in_epoch, lr in numbers["lrs"].items():
            assert float(epoch_steps[step_in_epoch - 1]["lr"]) == pytest.approx(lr, abs=5e-7)
        assert row["lr"] == epoch_steps[-1]["lr"]
    not_blank(out / "curves.png", (1300, 400))

    # plot_run reads the same epochs back from the log alone (a run written before summary.csv existed)
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(out / "train.log", old / "train.log")
    from_log = read_run(str(old))
    assert [r.epoch for r in from_log.rows] == [1, 2, 3]
    for row, parsed in zip(rows, from_log.rows):
        assert parsed.last_loss == float(row["last_loss"])
        assert parsed.val_top1 == round(float(row["val_top1"]), 4)
        assert parsed.train_loss == pytest.approx(float(row["train_loss"]), abs=1e-6)


@pytest.mark.slow
def test_the_trained_run_has_its_report_curves_and_prediction_grid(trained):
    rows = _summary(trained)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 9))
    validated = [int(r["epoch"]) for r in rows if r["val_top1"]]
    assert validated == [4, 8]  # eval_interval 4
    log = open(os.path.join(trained, "train.log")).read()
    for row in rows:
        assert f"epoch: {row['epoch']} step: 16, loss is {row['last_loss']}" in log
    best = max(float(r["val_top1"]) for r in rows if r["val_top1"])
    assert float(rows[-1]["best_top1"]) == best
    not_blank(os.path.join(trained, "curves.png"), (1300, 400))
    grid = not_blank(os.path.join(trained, "predictions.png"), (8 * 175, 200 + 50))
    right, shown = map(int, re.search(r"prediction grid: .*predictions.png \((\d+) of (\d+) right\)", log).groups())
    assert shown == 8
    # a green frame for each right image, a red one for each wrong one (frames are 3 px wide around 1.5 inch)
    assert (pixels_near(grid, GREEN) > 300 * right) and (right == 8 or pixels_near(grid, RED) > 300)


@pytest.mark.slow
def test_train_with_a_teacher_checkpoint(trained, synthetic_root, tmp_path, capsys):
    """train.py distils mobilenet_v1_025 from the trained ghostnet_050 of the quickstart run: the student's
    checkpoints hold no teacher parameter and load into the student; the teacher's file is untouched."""
    import train as train_script
    import eval as eval_script
    from src.engine.checkpoint import load_weights, read_checkpoint
    from tests.support import TINY
    teacher_ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    teacher_before = open(teacher_ckpt, "rb").read()
    out = str(tmp_path / "kd")
    args = TINY + ["--data_path", synthetic_root, "--output_dir", out, "--model", "mobilenet_v1_025",
                   "--epoch_size", "2", "--eval_interval", "1", "--kd_teacher", "ghostnet_050",
                   "--kd_teacher_ckpt", teacher_ckpt, "--kd_weight", "0.7", "--kd_temperature", "2"]
    assert train_script.main(args) == 0
    log = open(os.path.join(out, "train.log")).read()
    assert "distilling from ghostnet_050" in log and "0.3 x label loss + 0.7 x T^2 x KL at T = 2" in log
    assert "epoch: 2 step: 16, loss is " in log
    ckpts = sorted(glob.glob(os.path.join(out, "ckpt", "*.ckpt")))
    assert any(c.endswith("mobilenet_v1_025-2_16.ckpt") for c in ckpts)
    for path in ckpts:
        names = list(read_checkpoint(path))
        assert not [n for n in names if n.startswith(TEACHER_PREFIX)], path
        load_weights(create_model("mobilenet_v1_025", num_classes=4), path)
    assert open(teacher_ckpt, "rb").read() == teacher_before
    capsys.readouterr()
    assert eval_script.main(TINY + ["--model", "mobilenet_v1_025", "--data_path", synthetic_root,
                                    "--checkpoint_path", os.path.join(out, "ckpt", "mobilenet_v1_025-2_16.ckpt")]) == 0
    assert "result: {'top_1_accuracy': " in capsys.readouterr().out

    # bad input is named before anything is written
    bad = TINY + ["--data_path", synthetic_root, "--model", "mobilenet_v1_025", "--epoch_size", "1"]
    assert train_script.main(bad + ["--output_dir", str(tmp_path / "b1"), "--kd_teacher", "ghostnet_10",
                                    "--kd_teacher_ckpt", teacher_ckpt]) == 2
    assert "kd_teacher: unknown model 'ghostnet_10'" in capsys.readouterr().err
    assert train_script.main(bad + ["--output_dir", str(tmp_path / "b2"), "--kd_teacher", "ghostnet_050"]) == 2
    assert "pass --kd_teacher_ckpt" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "b1") and not os.path.exists(tmp_path / "b2")


def test_linear_lr_scaling_reaches_the_optimizer(image_folder, tmp_path):
    import train as train_script
    out = tmp_path / "run"
    assert train_script.main(["--model", "mobilenet_v1_025", "--dataset", "imagenet", "--num_classes", "3",
                              "--data_path", image_folder, "--image_size", "32", "--eval_resize", "32",
                              "--batch_size", "2", "--epoch_size", "1", "--eval_interval", "0", "--warmup_epochs",
                              "0", "--lr_decay_mode", "constant", "--lr_max", "0.2", "--lr_reference_batch", "8",
                              "--lr_scaling", "linear", "--log_interval", "1", "--num_parallel_workers", "1",
                              "--output_dir", str(out)]) == 0
    log = (out / "train.log").read_text()
    assert "lr_scaling linear: lr values x 2/8 = 0.25 (lr_max 0.2 -> 0.05)" in log
    lrs = set(re.findall(r"lr: ([0-9.]+),", log))
    assert lrs == {"0.050000"}, lrs

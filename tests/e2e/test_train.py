"""End to end through the entry points: train then eval on generated data, resume, and bad input."""
import glob
import json
import os
import re

import numpy as np
import pytest

import eval as eval_script
import train as train_script
from src.engine.checkpoint import read_checkpoint

from tests.support import TINY

pytestmark = pytest.mark.slow


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


def test_eval_scores_every_image_well_above_chance(trained, synthetic_root, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    result_json = os.path.join(trained, "result.json")
    rc = eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt,
                                  "--eval_batch_size", "10", "--result_json", result_json])
    assert rc == 0
    out = capsys.readouterr().out
    assert "result: {'top_1_accuracy': " in out and f"ckpt={ckpt}" in out
    result = json.load(open(result_json))
    assert result["num_samples"] == 52          # 4 classes x 13: not a multiple of the batch of 10
    assert result["top_1_accuracy"] > 0.5       # chance is 0.25; this run reached 0.77


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


def test_resume_state_restores_weights_and_moments_exactly(trained):
    """The functions train.py resumes with: read_training_state then restore_optimizer."""
    from src.engine.checkpoint import read_training_state, restore_optimizer
    from src.engine.optim import create_optimizer
    from src.engine.scheduler import create_scheduler
    from src.models import create_model
    path = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    net = create_model("ghostnet_050", num_classes=4)
    opt = create_optimizer(net, create_scheduler(16, 9, lr_max=0.1), weight_decay=4e-5)
    state = read_training_state(path, net)
    restore_optimizer(state, opt, path)
    assert int(state["epoch_num"].asnumpy()) == 8
    saved = read_checkpoint(path)
    for name, param in net.parameters_dict().items():
        np.testing.assert_array_equal(param.asnumpy(), saved[name].asnumpy(), err_msg=name)
    for param in opt.moments:
        np.testing.assert_array_equal(param.asnumpy(), saved[param.name].asnumpy(), err_msg=param.name)
    assert int(opt.global_step.asnumpy()[0]) == 128


def test_cifar10_train_and_eval(cifar_root, tmp_path, capsys):
    args = ["--model", "ghostnet_nose_050", "--num_classes", "10", "--dataset", "cifar10", "--image_size", "32",
            "--batch_size", "16", "--num_parallel_workers", "1", "--log_interval", "0", "--data_path", cifar_root]
    assert train_script.main(args + ["--output_dir", str(tmp_path), "--epoch_size", "1"]) == 0
    ckpt = str(tmp_path / "ckpt" / "ghostnet_nose_050-1_5.ckpt")
    assert eval_script.main(args + ["--checkpoint_path", ckpt]) == 0
    assert "result: {'top_1_accuracy'" in capsys.readouterr().out


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


def test_eval_rejects_checkpoint_of_another_model(trained, synthetic_root, capsys):
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    args = TINY + ["--data_path", synthetic_root, "--checkpoint_path", ckpt]
    assert eval_script.main(args + ["--model", "ghostnet_nose_050"]) == 2
    err = capsys.readouterr().err
    assert "--model ghostnet_nose_050 contradicts the checkpoint" in err and "holds a ghostnet_050 (recorded" in err

    assert eval_script.main(args + ["--num_classes", "5"]) == 2
    err = capsys.readouterr().err
    assert "classifier.weight (checkpoint (4, 1280), network (5, 1280))" in err and "--num_classes 4" in err

    assert eval_script.main(args + ["--model", "ghostnet_100"]) == 2
    assert "--model ghostnet_100 contradicts the checkpoint" in capsys.readouterr().err


def test_eval_missing_and_damaged_checkpoint(synthetic_root, tmp_path, capsys):
    args = TINY + ["--data_path", synthetic_root]
    assert eval_script.main(args + ["--checkpoint_path", str(tmp_path / "none.ckpt")]) == 2
    assert "none.ckpt' does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00garbage" * 100)
    assert eval_script.main(args + ["--checkpoint_path", str(bad)]) == 2
    assert "cannot read checkpoint" in capsys.readouterr().err


def test_same_seed_same_weights(synthetic_root, tmp_path):
    """Two runs with one seed end with identical weights (dropout off: MindSpore's CPU dropout is not
    bit-reproducible across processes, measured), and another seed gives other weights."""
    args = TINY + ["--data_path", synthetic_root, "--epoch_size", "1", "--eval_interval", "0", "--drop_rate", "0"]
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        assert train_script.main(args + ["--output_dir", str(tmp_path / name), "--seed", seed]) == 0
    weights = {n: read_checkpoint(str(tmp_path / n / "ckpt" / "ghostnet_050-1_16.ckpt")) for n in "abc"}
    names = [k for k in weights["a"] if not k.startswith(("learning_rate", "global_step", "ghostzoo_record"))]
    for k in names:
        np.testing.assert_array_equal(weights["a"][k].asnumpy(), weights["b"][k].asnumpy(), err_msg=k)
    assert any(not np.array_equal(weights["a"][k].asnumpy(), weights["c"][k].asnumpy()) for k in names)


def test_ema_with_augmentations_end_to_end(synthetic_root, tmp_path, capsys):
    args = TINY + ["--data_path", synthetic_root, "--output_dir", str(tmp_path), "--epoch_size", "2",
                   "--eval_interval", "2", "--ema", "true", "--ema_decay", "0.9", "--mixup", "0.2", "--cutmix",
                   "1.0", "--mix_prob", "0.5", "--auto_augment", "randaugment", "--random_erasing", "0.25"]
    assert train_script.main(args) == 0
    out = capsys.readouterr().out
    assert "epoch: 2 EMA validation: top_1_accuracy" in out
    logged = float(out.split("epoch: 2 EMA validation: top_1_accuracy ")[1].split(",")[0])
    ema_ckpt = str(tmp_path / "ckpt" / "ghostnet_050_ema.ckpt")
    result_json = str(tmp_path / "ema.json")
    assert eval_script.main(TINY + ["--data_path", synthetic_root, "--checkpoint_path", ema_ckpt,
                                    "--result_json", result_json]) == 0
    # eval.py on the saved average scores exactly what validation reported for it
    assert round(json.load(open(result_json))["top_1_accuracy"], 4) == logged
    # and the average differs from the last raw weights
    raw = read_checkpoint(str(tmp_path / "ckpt" / "ghostnet_050-2_16.ckpt"))
    avg = read_checkpoint(ema_ckpt)
    assert not np.array_equal(raw["conv_stem.weight"].asnumpy(), avg["conv_stem.weight"].asnumpy())

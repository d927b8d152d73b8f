"""fine_tune.py end to end: onto another class count with a frozen first epoch, eval.py taking the class count from
the checkpoint, and a missing checkpoint or contradicting class count refused."""
import json
import os

import numpy as np
import pytest

import eval as eval_script
import fine_tune as fine_tune_script
from src.engine.checkpoint import read_checkpoint
from tests.support import ROOT

pytestmark = pytest.mark.slow


RECIPE = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--dataset", "imagenet", "--log_interval", "0"]


@pytest.fixture(scope="module")
def six_class_root(tmp_path_factory):
    """Another generated data set: 6 classes (the 4 of `synthetic_root` and 2 more), another seed."""
    from src.data.synthetic import ensure_synthetic_dataset
    return ensure_synthetic_dataset(str(tmp_path_factory.mktemp("six") / "data"), num_classes=6, image_size=48,
                                    train_per_class=64, val_per_class=10, seed=11)


def test_fine_tune_onto_another_class_count(trained, six_class_root, tmp_path, capsys):
    source = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    out = tmp_path / "ft"
    rc = fine_tune_script.main(RECIPE + ["--num_classes", "6", "--data_path", six_class_root, "--output_dir",
                                         str(out), "--pre_trained", source, "--epoch_size", "4",
                                         "--freeze_epochs", "1", "--eval_interval", "4", "--lr_max", "0.05",
                                         "--save_checkpoint_epochs", "1", "--keep_checkpoint_max", "4"])
    assert rc == 0
    log = capsys.readouterr().out
    assert "its 4-class head replaced by a new 6-class classifier" in log
    assert "epochs 1-1: backbone frozen, training the classifier only" in log
    after_freeze = read_checkpoint(str(out / "ckpt" / "ghostnet_050-1_12.ckpt"))
    start = read_checkpoint(source)
    # the frozen epoch moved the classifier but no backbone weight
    np.testing.assert_array_equal(after_freeze["conv_stem.weight"].asnumpy(), start["conv_stem.weight"].asnumpy())
    assert after_freeze["classifier.weight"].shape == (6, 1280)
    final = read_checkpoint(str(out / "ckpt" / "ghostnet_050-4_12.ckpt"))
    assert not np.array_equal(final["conv_stem.weight"].asnumpy(), start["conv_stem.weight"].asnumpy())
    # eval.py takes the class count from the checkpoint (the recipe says 6 classes only by accident: use 1000)
    result_json = str(tmp_path / "r.json")
    assert eval_script.main(["--config", os.path.join(ROOT, "configs", "ghostnet_050_imagenet.yaml"),
                             "--image_size", "48", "--eval_resize", "48", "--data_path", six_class_root,
                             "--checkpoint_path", str(out / "ckpt" / "ghostnet_050-4_12.ckpt"),
                             "--result_json", result_json]) == 0
    result = json.load(open(result_json))
    assert result["num_samples"] == 60
    assert result["top_1_accuracy"] > 0.3  # chance is 1/6; 4 short epochs reached 0.38 to 0.6 here


def test_fine_tune_needs_a_checkpoint_and_explicit_mismatch_is_an_error(trained, six_class_root, capsys):
    assert fine_tune_script.main(RECIPE + ["--num_classes", "6", "--data_path", six_class_root]) == 2
    assert "needs --pretrained_ckpt" in capsys.readouterr().err
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    assert eval_script.main(RECIPE + ["--data_path", six_class_root, "--checkpoint_path", ckpt,
                                      "--num_classes", "6"]) == 2
    assert "--num_classes 4" in capsys.readouterr().err

"""Fine-tuning onto another class count, freezing, eval's class count from the checkpoint, and the data split."""
import json
import os

import numpy as np
import pytest

import eval as eval_script
import fine_tune as fine_tune_script
from src.engine.checkpoint import read_checkpoint
from src.tools import split_dataset
from tests.support import ROOT, write_image_folder

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


def test_split_is_deterministic_stratified_and_safe(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "flower_photos"
    write_image_folder(str(src), rng, classes=3, per_class=8, size=8)
    plan_a = split_dataset.plan_split(str(src), 0.75, seed=1)
    plan_b = split_dataset.plan_split(str(src), 0.75, seed=1)
    assert plan_a == plan_b
    assert plan_a != split_dataset.plan_split(str(src), 0.75, seed=2)
    for cls in ("class_0", "class_1", "class_2"):
        train, test = plan_a[cls]
        assert (len(train), len(test)) == (6, 2) and not set(train) & set(test)
    assert split_dataset.main(["--src", str(src), "--dst", str(tmp_path / "ds"), "--seed", "1"]) == 0
    assert sorted(os.listdir(tmp_path / "ds" / "train" / "class_1")) == plan_a["class_1"][0]
    assert split_dataset.main(["--src", str(src), "--dst", str(tmp_path / "ds")]) == 2  # refuses to overwrite
    assert split_dataset.main(["--src", str(src), "--dst", str(tmp_path / "ds"), "--overwrite", "--link"]) == 0
    assert os.path.islink(tmp_path / "ds" / "test" / "class_0" / plan_split_first(src))


def plan_split_first(src):
    return split_dataset.plan_split(str(src), 0.75, seed=0)["class_0"][1][0]

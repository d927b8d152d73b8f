"""Class indices across splits: the training set (or a checkpoint's record) fixes them, a validation folder with
fewer classes keeps them, and a class the reference lacks, or a class folder without images of its own, is refused
with the folder named."""
import json
import os
import shutil

import numpy as np
import pytest

from src.data import create_dataset, open_split
from src.errors import DataError
from tests.support import TINY, write_image_folder


def _labels(source):
    data = create_dataset(source, training=False, num_parallel_workers=1)
    return sorted(int(row["label"]) for row in data.create_dict_iterator(output_numpy=True))


def _two_splits(tmp_path, val_classes):
    rng = np.random.default_rng(0)
    write_image_folder(str(tmp_path / "train"), rng, classes=4, per_class=2, size=16)
    write_image_folder(str(tmp_path / "all_val"), rng, classes=4, per_class=2, size=16)
    os.makedirs(tmp_path / "val")
    for name in val_classes:
        shutil.move(str(tmp_path / "all_val" / name), str(tmp_path / "val" / name))
    return str(tmp_path)


def test_validation_classes_take_the_training_indices(tmp_path):
    root = _two_splits(tmp_path, ["class_1", "class_3"])
    train = open_split(root, "train", training=True)
    val = open_split(root, "val", classes=train.classes)
    assert val.classes == train.classes and val.num_classes == 4
    assert sorted(label for _, label in val.samples) == [1, 1, 3, 3]
    assert _labels(val) == [1, 1, 3, 3]  # what the pipeline feeds the network, not only the scan
    # the mistake the reference prevents: the folder's own order labels class_1 and class_3 as 0 and 1
    assert _labels(open_split(root, "val")) == [0, 0, 1, 1]


def test_validation_class_the_training_set_lacks_is_refused(tmp_path):
    root = _two_splits(tmp_path, ["class_1"])
    os.makedirs(tmp_path / "val" / "zebra")
    write_image_folder(str(tmp_path / "extra"), np.random.default_rng(1), classes=1, per_class=1, size=16)
    shutil.move(str(tmp_path / "extra" / "class_0" / "img_0.jpg"), str(tmp_path / "val" / "zebra" / "z.jpg"))
    train = open_split(root, "train", training=True)
    with pytest.raises(DataError, match="class folder.s. zebra that the checkpoint lacks"):
        open_split(root, "val", classes=train.classes, classes_from="the checkpoint")


@pytest.mark.parametrize("layout, expected", [
    ("empty", "'.*class_9' holds no images .*it is empty"),
    ("nested", "'.*class_9' has its images only in sub-folder.s. deeper"),
    ("output", "'.*class_9' is a training run's output folder .it holds ckpt, train.log"),
])
def test_class_folder_without_images_is_refused(tmp_path, layout, expected):
    rng = np.random.default_rng(2)
    root = write_image_folder(str(tmp_path / "data"), rng, classes=2, per_class=2, size=16)
    dead = os.path.join(root, "class_9")
    if layout == "empty":
        os.makedirs(dead)
    elif layout == "nested":
        write_image_folder(dead, rng, classes=1, per_class=1, size=16)
        os.rename(os.path.join(dead, "class_0"), os.path.join(dead, "deeper"))
    else:  # train.py's output folder, with its plots (images!) beside the log
        os.makedirs(os.path.join(dead, "ckpt"))
        open(os.path.join(dead, "train.log"), "w").write("log")
        write_image_folder(os.path.join(dead, "plots"), rng, classes=1, per_class=1, size=16)
        shutil.copy(os.path.join(root, "class_0", "img_0.jpg"), os.path.join(dead, "curves.png"))
    with pytest.raises(DataError, match=expected):
        open_split(root, "train", training=True)


def test_suffix_in_any_case_is_read_by_scan_and_pipeline(tmp_path):
    root = write_image_folder(str(tmp_path / "data"), np.random.default_rng(3), classes=2, per_class=2, size=16)
    os.rename(os.path.join(root, "class_1", "img_0.jpg"), os.path.join(root, "class_1", "img_0.Jpg"))
    source = open_split(root, "train", training=True)
    assert source.num_samples == 4
    assert _labels(source) == [0, 0, 1, 1]


@pytest.mark.slow
def test_eval_scores_a_partial_validation_folder_by_the_checkpoints_classes(trained, synthetic_root, tmp_path):
    """The per-class accuracies of the full validation split predict the score on a folder of two of its
    classes; labelled by the folder's own order (the old behaviour) the score is unrelated."""
    import eval as eval_script
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    args = TINY + ["--checkpoint_path", ckpt]
    full = str(tmp_path / "full.json")
    assert eval_script.main(args + ["--data_path", synthetic_root, "--result_json", full]) == 0
    per_class = json.load(open(full))["per_class"]
    classes = sorted(per_class)
    part = tmp_path / "part"
    for name in classes[2:]:
        shutil.copytree(os.path.join(synthetic_root, "val", name), str(part / name))
    out = str(tmp_path / "part.json")
    assert eval_script.main(args + ["--data_path", str(part), "--result_json", out]) == 0
    result = json.load(open(out))
    right = sum(per_class[c]["accuracy"] * per_class[c]["num_samples"] for c in classes[2:])
    assert result["num_samples"] == sum(per_class[c]["num_samples"] for c in classes[2:])
    assert result["top_1_accuracy"] == pytest.approx(right / result["num_samples"], abs=1e-6)
    assert right > 0  # else the folder-order labels could score the same

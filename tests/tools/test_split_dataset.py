"""split_dataset (src/tools/split_dataset.py): a deterministic, stratified split that never overwrites by
accident."""
import os

import numpy as np
import pytest

from src.tools import split_dataset
from tests.support import write_image_folder


@pytest.mark.slow
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

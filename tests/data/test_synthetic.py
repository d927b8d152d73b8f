"""The generated quickstart data set (src/data/synthetic.py): it never replaces a user's data, and other ranks wait
for rank 0 to write it."""
import os

import pytest

from src.errors import DataError


def test_synthetic_generator_never_replaces_user_data(image_folder, tmp_path):
    from src.data.synthetic import ensure_synthetic_dataset
    with pytest.raises(DataError, match="not a generated synthetic data set"):
        ensure_synthetic_dataset(image_folder, num_classes=3, image_size=16, train_per_class=2, val_per_class=1)
    assert os.path.isdir(os.path.join(image_folder, "train", "class_0"))
    root = str(tmp_path / "gen")
    ensure_synthetic_dataset(root, num_classes=3, image_size=16, train_per_class=2, val_per_class=1)
    first = sorted(os.listdir(os.path.join(root, "train")))
    # a different spec regenerates its own folder
    ensure_synthetic_dataset(root, num_classes=2, image_size=16, train_per_class=2, val_per_class=1)
    assert len(os.listdir(os.path.join(root, "train"))) == 2 and len(first) == 3


def test_other_ranks_wait_for_rank_0s_synthetic_data(tmp_path):
    from src.data.synthetic import ensure_synthetic_dataset
    from src.errors import DataError
    spec = dict(num_classes=2, image_size=16, train_per_class=2, val_per_class=1, seed=0)
    root = str(tmp_path / "data")
    with pytest.raises(DataError, match="waited 1 s for rank 0"):
        ensure_synthetic_dataset(root, wait=1.0, **spec)
    assert not os.path.exists(root)  # a waiting rank writes nothing
    ensure_synthetic_dataset(root, **spec)
    assert ensure_synthetic_dataset(root, wait=1.0, **spec) == root

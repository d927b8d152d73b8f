"""Every recipe in configs/ loads, builds its model and its train / eval pipelines on generated data."""
import glob
import os

import numpy as np
import pytest

from src.config import build_config
from src.data import create_dataset
from src.models import count_params, create_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_recipes_found():
    assert len(RECIPES) >= 13


@pytest.mark.parametrize("path", RECIPES, ids=[os.path.basename(p) for p in RECIPES])
def test_recipe_builds_model_and_pipelines(path, image_folder, cifar_root, tmp_path):
    # Small batches and few workers so the generated data fills a batch; everything else as the recipe says.
    cfg = build_config(["--config", path, "--batch_size", "4", "--num_parallel_workers", "1",
                        "--output_dir", str(tmp_path)])
    net = create_model(cfg.model, num_classes=cfg.num_classes, drop_rate=cfg.drop_rate, image_size=cfg.image_size)
    assert count_params(net) > 0 and net.num_features > 0
    if cfg.dataset == "cifar10":
        data_root = cifar_root
    elif cfg.dataset == "synthetic":
        data_root = str(tmp_path / "data")
        from src.data import prepare_data_path
        cfg.synthetic_train_per_class, cfg.synthetic_val_per_class = 4, 2
        data_root = prepare_data_path(cfg)
    else:
        data_root = image_folder
    train = create_dataset(cfg, "train", data_root)
    images, labels = next(train.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert images.shape == (4, 3, cfg.image_size, cfg.image_size) and np.isfinite(images).all()
    if cfg.mixup > 0 or cfg.cutmix > 0:
        assert labels.shape == (4, cfg.num_classes)
        np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-5)
    else:
        assert labels.shape == (4,)
    val = create_dataset(cfg, "val", data_root)
    images, labels = next(val.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert images.shape[1:] == (3, cfg.image_size, cfg.image_size) and labels.ndim == 1

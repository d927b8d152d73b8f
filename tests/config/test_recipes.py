"""Every recipe in configs/ loads, builds its model and its train / eval pipelines on generated data."""
import glob
import os

import numpy as np
import pytest

import train as train_script
from src.data import resolve_dataset
from src.engine.run_files import RunPaths
from src.models import count_params, create_model
from src.runtime import Runtime
from tests.support import ROOT, build_config

RECIPES = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")))


def test_recipes_found():
    assert len(RECIPES) >= 13


@pytest.mark.parametrize("path", RECIPES, ids=[os.path.basename(p) for p in RECIPES])
def test_recipe_builds_model_and_pipelines(path, image_folder, cifar_root, tmp_path):
    # Small batches and few workers so the generated data fills a batch; everything else as the recipe says.
    overrides = ["--batch_size", "4", "--num_parallel_workers", "1", "--output_dir", str(tmp_path)]
    cfg = build_config(["--config", path] + overrides)
    if cfg.dataset == "cifar10":
        overrides += ["--data_path", cifar_root]
    elif cfg.dataset == "synthetic":
        overrides += ["--synthetic_train_per_class", "4", "--synthetic_val_per_class", "2"]
    else:
        overrides += ["--data_path", image_folder, "--num_classes", "3"]
    cfg = build_config(["--config", path] + overrides)
    # what train.py builds from the recipe: sources, preprocessing, network, loaders
    kind = resolve_dataset(cfg.dataset, cfg.data_path, cfg.from_command_line("dataset"))
    run = train_script.TrainingRun(cfg, Runtime("CPU"), RunPaths(cfg.output_dir, cfg.model), kind)
    run.open_data()
    size = run.preprocessing.image_size
    net = create_model(cfg.model, num_classes=run.num_classes, drop_rate=cfg.drop_rate, image_size=size)
    assert count_params(net) > 0 and net.num_features > 0
    train = run.loader_factory(run.train_source, True)(0)
    images, labels = next(train.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert images.shape == (4, 3, size, size) and np.isfinite(images).all()
    if cfg.mixup > 0 or cfg.cutmix > 0:
        assert labels.shape == (4, run.num_classes)
        np.testing.assert_allclose(labels.sum(1), 1.0, rtol=1e-5)
    else:
        assert labels.shape == (4,)
    val = run.loader_factory(run.val_source, False)()
    images, labels = next(val.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))
    assert images.shape[1:] == (3, size, size) and labels.ndim == 1


@pytest.mark.parametrize("path", [p for p in RECIPES if build_config(["--config", p]).kd_teacher],
                         ids=lambda p: os.path.basename(p))
def test_distillation_recipes_name_a_teacher_that_builds(path):
    """A recipe that distils names a registered teacher for its classes and crop; its checkpoint is the user's to
    give (--kd_teacher_ckpt), and train.py refuses to start without it."""
    from src.engine.distill import check_teacher
    cfg = build_config(["--config", path])
    teacher = create_model(cfg.kd_teacher, num_classes=cfg.num_classes, image_size=cfg.image_size)
    assert count_params(teacher) > count_params(create_model(cfg.model, num_classes=cfg.num_classes))
    with pytest.raises(ValueError, match="pass --kd_teacher_ckpt"):
        check_teacher(cfg.kd_teacher, cfg.kd_teacher_ckpt)

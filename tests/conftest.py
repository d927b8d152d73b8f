"""Shared fixtures: the repository on the path, MindSpore's execution mode restored after every test, and data sets
generated in their real formats. (Importing `src` caps oneDNN at AVX2, see src/__init__.py.)"""
import os
import sys

os.environ.setdefault("GLOG_v", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import fcntl  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.support import TINY, write_cifar10_bin, write_image_folder  # noqa: E402


@pytest.fixture(autouse=True)
def restore_mindspore_mode():
    """Tests switch between graph and PyNative mode; each starts from, and leaves, the mode it found."""
    import mindspore as ms
    mode = ms.get_context("mode")
    yield
    ms.set_context(mode=mode)


@pytest.fixture(autouse=True, scope="module")
def release_compiled_graphs():
    """After each test module, MindSpore drops the graphs and device memory it keeps for every network compiled in
    this process (a later call recompiles): tests/models alone peaked at 4.4 GB with this against 5.9 GB without."""
    yield
    import gc
    import mindspore as ms
    gc.collect()
    gc.disable()
    try:
        # MindSpore iterates its dict of per-cell caches while the release can delete a cell, whose __del__ pops
        # from that dict ("dictionary changed size during iteration", seen once in a whole run); a retry goes on
        # with the caches still held (the released ones are empty by then)
        for attempt in range(5):
            try:
                ms.ms_memory_recycle()
                break
            except RuntimeError as e:
                if "changed size during iteration" not in str(e) or attempt == 4:
                    raise
    finally:
        gc.enable()


@pytest.fixture(scope="module")
def pynative():
    """PyNative mode for a whole test module (`pytestmark = pytest.mark.usefixtures("pynative")`), restored after."""
    import mindspore as ms
    mode = ms.get_context("mode")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    yield
    ms.set_context(mode=mode)


def made_once(tmp_path_factory, name: str, make) -> str:
    """The folder `name`, written by `make(path)` once per test session: under pytest-xdist in the temporary folder
    the workers share, by the first worker that asks while the others wait on a lock and then read it (each worker
    made its own before, twice the work); without xdist in this session's own. Tests only read what it holds."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, which holds each worker's (a new one every session)
    path, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            make(str(path))  # an exception leaves no `done`: the next worker to ask tries again
            done.touch()
    return str(path)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A 4-class shape/texture set, 48x48 JPEGs, train/ and val/ (val size not a multiple of the batch)."""
    from src.data.synthetic import ensure_synthetic_dataset

    def make(path):
        ensure_synthetic_dataset(os.path.join(path, "data"), num_classes=4, image_size=48, train_per_class=128,
                                 val_per_class=13, seed=3)
    return os.path.join(made_once(tmp_path_factory, "synthetic", make), "data")


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """A cifar-10-batches-bin folder with 5 train files and a test file of a few records each."""
    root = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-bin"
    rng = np.random.default_rng(0)
    return write_cifar10_bin(str(root), rng, train_records=16, test_records=21)


@pytest.fixture()
def image_folder(tmp_path):
    """A small ImageNet-style folder with train/ and val/ of random JPEGs, 3 classes."""
    rng = np.random.default_rng(1)
    write_image_folder(str(tmp_path / "train"), rng, classes=3, per_class=4)
    write_image_folder(str(tmp_path / "val"), rng, classes=3, per_class=3)
    return str(tmp_path)


@pytest.fixture(scope="session")
def trained(synthetic_root, tmp_path_factory):
    """Output folder of an 8-epoch quickstart-recipe run on `synthetic_root` (checkpoints every 2 epochs, keep 2),
    one per session (`made_once`)."""
    import train as train_script

    def make(out):
        rc = train_script.main(TINY + ["--data_path", synthetic_root, "--output_dir", out, "--epoch_size", "8",
                                       "--eval_interval", "4", "--save_checkpoint_epochs", "2",
                                       "--keep_checkpoint_max", "2", "--prediction_grid", "8"])
        assert rc == 0
    return made_once(tmp_path_factory, "trained", make)


@pytest.fixture(scope="session")
def exported(trained, tmp_path_factory):
    """fixed.onnx (batch 1), dynamic.onnx and model.mindir exported from the `trained` run's last checkpoint, and a
    recipe for files read without their record."""
    import export as export_script
    from tests.support import ROOT
    out = tmp_path_factory.mktemp("exported")
    ckpt = os.path.join(trained, "ckpt", "ghostnet_050-8_16.ckpt")
    base = ["--config", os.path.join(ROOT, "configs", "quickstart.yaml"), "--checkpoint_path", ckpt]
    assert export_script.main(base + ["--file_format", "ONNX", "--file_name", str(out / "fixed")]) == 0
    assert export_script.main(base + ["--file_format", "ONNX", "--batch_size", "0",
                                      "--file_name", str(out / "dynamic")]) == 0
    assert export_script.main(base + ["--file_format", "MINDIR", "--file_name", str(out / "model")]) == 0
    import yaml
    recipe = out / "recipe.yaml"
    values = yaml.safe_load(open(os.path.join(ROOT, "configs", "quickstart.yaml")))
    recipe.write_text(yaml.safe_dump({**values, "dataset": "imagenet", "num_classes": 4}, sort_keys=False))
    return {"ckpt": ckpt, "dir": out, "recipe": str(recipe)}

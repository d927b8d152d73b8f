"""The loaders train.py and eval.py build (src/data/loader.py): the last partial evaluation batch kept, a class
count above the model's refused, and CIFAR-10 records read back pixel for pixel."""
import numpy as np
import pytest

from src.data import resolve_cifar10
from src.errors import DataError
from tests.support import cifar_records, make_loader


def test_eval_keeps_the_last_partial_batch(image_folder):
    info = make_loader(image_folder, "val", eval_resize=36)
    sizes = [img.shape[0] for img, _ in info.dataset.create_tuple_iterator(num_epochs=1)]
    assert sizes == [4, 4, 1] and info.num_samples == 9
    train = make_loader(image_folder, "train", eval_resize=36)
    shapes = [img.shape for img, _ in train.dataset.create_tuple_iterator(num_epochs=1)]
    assert shapes == [(4, 3, 32, 32)] * 3 and train.steps == 3


def test_too_many_classes_for_the_model(image_folder):
    with pytest.raises(DataError, match="3 classes but the model has num_classes=2"):
        make_loader(image_folder, "train", num_classes=2)


def test_cifar10_binary_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    root = tmp_path / "cifar-10-batches-bin"
    root.mkdir()
    expected = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        labels, images, raw = cifar_records(rng, 3)
        (root / name).write_bytes(raw)
        expected.append((labels, images))
    assert resolve_cifar10(str(tmp_path), "train") == (str(root), "train")
    assert resolve_cifar10(str(root), "val") == (str(root), "test")
    # mean 0 and std 1/255 make the normalised output equal to the raw pixels
    info = make_loader(str(root), "val", dataset="cifar10", num_classes=10, batch_size=8, mean=(0, 0, 0),
                       std=(1 / 255,) * 3)
    images, labels = next(info.dataset.create_tuple_iterator(num_epochs=1))
    np.testing.assert_array_equal(labels.asnumpy(), expected[-1][0])
    np.testing.assert_allclose(images.asnumpy(), expected[-1][1].transpose(0, 3, 1, 2), atol=1e-3)
    assert info.num_samples == 3

"""Readers and pipelines on data generated in the real on-disk formats."""
import os
import shutil

import numpy as np
import pytest

from src.data import pipeline_errors, resolve_cifar10, resolve_image_folder, scan_image_folder
from src.errors import DataError
from tests.support import cifar_records, write_image_folder
from tests.support import make_loader


def test_split_layouts(tmp_path, image_folder):
    assert resolve_image_folder(image_folder, "train") == os.path.join(image_folder, "train")
    assert resolve_image_folder(image_folder, "val") == os.path.join(image_folder, "val")
    zoo = tmp_path / "zoo"
    write_image_folder(str(zoo / "ilsvrc"), np.random.default_rng(0), 2, 2)
    write_image_folder(str(zoo / "validation_preprocess"), np.random.default_rng(0), 2, 2)
    assert resolve_image_folder(str(zoo), "train").endswith("ilsvrc")
    assert resolve_image_folder(str(zoo), "val").endswith("validation_preprocess")
    # a split folder given directly
    direct = os.path.join(image_folder, "val")
    assert resolve_image_folder(direct, "val") == direct
    # a root with train/ only has no val split
    shutil.rmtree(os.path.join(image_folder, "val"))
    assert resolve_image_folder(image_folder, "val") is None


def test_scan_lists_every_image_sorted(image_folder):
    samples, classes = scan_image_folder(os.path.join(image_folder, "train"))
    assert classes == ["class_0", "class_1", "class_2"]
    assert len(samples) == 12 and [lbl for _, lbl in samples] == sorted(lbl for _, lbl in samples)


def test_missing_path():
    with pytest.raises(FileNotFoundError, match="/no/such/dir"):
        resolve_image_folder("/no/such/dir", "train")


def test_classless_folder(tmp_path):
    from PIL import Image
    Image.new("RGB", (8, 8)).save(tmp_path / "a.jpg")
    with pytest.raises(DataError, match="no class sub-folders.*1 images lie directly"):
        scan_image_folder(str(tmp_path))


def test_empty_class_folders(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    with pytest.raises(DataError, match="no images.*2 class folders"):
        scan_image_folder(str(tmp_path))


def test_corrupt_file_named_by_structure_check(image_folder):
    bad = os.path.join(image_folder, "train", "class_1", "broken.jpg")
    with open(bad, "wb") as f:
        f.write(b"this is not an image")
    with pytest.raises(DataError, match="bad image '.*broken.jpg': not a JPEG, PNG or BMP file.*check_images"):
        scan_image_folder(os.path.join(image_folder, "train"))


def test_truncated_jpeg_found_by_both_checks_and_by_pipeline(image_folder):
    good = os.path.join(image_folder, "val", "class_0", "img_0.jpg")
    data = open(good, "rb").read()
    bad = os.path.join(image_folder, "val", "class_2", "truncated.jpg")
    with open(bad, "wb") as f:
        f.write(data[:40])  # a valid JPEG signature, then nothing decodable
    with pytest.raises(DataError, match="truncated JPEG '.*truncated.jpg'"):
        scan_image_folder(os.path.join(image_folder, "val"), "structure")
    with pytest.raises(DataError, match="truncated.jpg"):
        scan_image_folder(os.path.join(image_folder, "val"), "decode")
    # With checks off, the pipeline's failure is turned into the same kind of message.
    info = make_loader(image_folder, "val", eval_resize=36, image_check="none")
    cwd = os.getcwd()
    os.chdir(image_folder)  # MindSpore dumps the bad image into the working directory
    try:
        with pytest.raises(DataError, match="corrupt image '.*truncated.jpg'"):
            with pipeline_errors():
                for _ in info.dataset.create_tuple_iterator(num_epochs=1):
                    pass
    finally:
        os.chdir(cwd)


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


def test_cifar10_truncated_and_missing(tmp_path, cifar_root):
    with pytest.raises(DataError, match="no CIFAR-10 binary train files"):
        resolve_cifar10(str(tmp_path), "train")
    bad = tmp_path / "bad"
    shutil.copytree(cifar_root, bad)
    with open(bad / "data_batch_3.bin", "ab") as f:
        f.write(b"xx")
    with pytest.raises(DataError, match="data_batch_3.bin.*not a multiple"):
        resolve_cifar10(str(bad), "train")


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


def _first_batch(root, split="train", **kwargs):
    info = make_loader(root, split, **kwargs)
    return next(info.dataset.create_tuple_iterator(num_epochs=1, output_numpy=True))


def test_mixup_and_cutmix_give_soft_targets(image_folder):
    base = dict(num_classes=5, batch_size=8, seed=3)
    _, plain = _first_batch(image_folder, **base)
    assert plain.shape == (8,) and plain.max() < 3
    for extra in (dict(mixup=1.0), dict(cutmix=1.0), dict(mixup=0.5, cutmix=1.0)):
        images, soft = _first_batch(image_folder, **base, **extra)
        assert soft.shape == (8, 5) and soft.dtype == np.float32
        np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-5)
        assert soft[:, 3:].max() == 0                     # only the 3 real classes get mass
        assert ((soft > 0) & (soft < 1)).any()            # some rows mix two images
    _, half = _first_batch(image_folder, **base, cutmix=1.0, mix_prob=0.0)
    assert set(np.unique(half)) <= {0.0, 1.0}             # mix_prob 0: one-hot targets, nothing mixed


def test_auto_augment_and_random_erasing_change_the_images(image_folder):
    base = dict(seed=3, hflip=0, min_scale=1.0)
    reference, _ = _first_batch(image_folder, **base)
    for extra in (dict(auto_augment="randaugment", randaug_magnitude=15), dict(auto_augment="autoaugment"),
                  dict(random_erasing=1.0)):
        images, _ = _first_batch(image_folder, **base, **extra)
        assert images.shape == reference.shape and np.isfinite(images).all()
        assert not np.allclose(images, reference), extra
    erased, _ = _first_batch(image_folder, **base, random_erasing=1.0)
    assert ((erased == 0).all(axis=1).sum(axis=(1, 2)) > 0).all()  # every image has an erased (zero) patch


def test_cifar_augmentations(cifar_root):
    images, labels = _first_batch(cifar_root, dataset="cifar10", num_classes=10, batch_size=8,
                                  auto_augment="autoaugment", random_erasing=0.5, cutmix=1.0)
    assert images.shape == (8, 3, 32, 32) and labels.shape == (8, 10)

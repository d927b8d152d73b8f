"""Finding and scanning data sets on disk (src/data/folders.py): split layouts, class folders, CIFAR-10 binary
files, and bad files named by the structure check, the decode check and the pipeline."""
import os
import shutil

import numpy as np
import pytest

from src.data import pipeline_errors, resolve_cifar10, resolve_image_folder, scan_image_folder
from src.errors import DataError
from tests.support import make_loader, write_image_folder


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


def test_cifar10_truncated_and_missing(tmp_path, cifar_root):
    with pytest.raises(DataError, match="no CIFAR-10 binary train files"):
        resolve_cifar10(str(tmp_path), "train")
    bad = tmp_path / "bad"
    shutil.copytree(cifar_root, bad)
    with open(bad / "data_batch_3.bin", "ab") as f:
        f.write(b"xx")
    with pytest.raises(DataError, match="data_batch_3.bin.*not a multiple"):
        resolve_cifar10(str(bad), "train")

"""Result-file names of the inference harness (src/deploy/naming.py): images with the same stem in different
folders get different keys, and a clash is refused."""
import numpy as np
import pytest

from src.deploy import list_images, result_key


def test_result_keys_keep_same_stems_apart(tmp_path):
    from src.deploy import result_keys
    from src.errors import DataError
    from tests.support import write_image_folder
    rng = np.random.default_rng(0)
    write_image_folder(str(tmp_path / "a"), rng, classes=2, per_class=1)  # a/class_0/img_0.jpg, a/class_1/img_0.jpg
    keys = result_keys(str(tmp_path / "a"), list_images(str(tmp_path / "a")))
    assert sorted(keys) == ["class_0__img_0", "class_1__img_0"]
    (tmp_path / "b" / "x__y").mkdir(parents=True)
    (tmp_path / "b" / "x").mkdir()
    for p in ("x__y/z.jpg", "x/y__z.jpg"):
        (tmp_path / "b" / p).write_bytes(b"\xff\xd8\xff")
    with pytest.raises(DataError, match="would both be written as 'x__y__z_0.bin'"):
        result_keys(str(tmp_path / "b"), list_images(str(tmp_path / "b")))
    assert result_key("/d", "/d/flat.JPEG") == "flat"

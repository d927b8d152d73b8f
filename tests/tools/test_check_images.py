"""check_images (src/tools/check_images.py) lists every bad image of a data set and fails while there is one."""
import os

import numpy as np

from src.tools import check_images
from tests.support import write_image_folder


def test_check_images_lists_every_bad_file(tmp_path, capsys):
    write_image_folder(str(tmp_path / "train"), np.random.default_rng(0), classes=2, per_class=3)
    good = (tmp_path / "train" / "class_0" / "img_0.jpg").read_bytes()
    (tmp_path / "train" / "class_0" / "cut.jpg").write_bytes(good[:400])
    (tmp_path / "train" / "class_1" / "empty.jpg").write_bytes(b"")
    assert check_images.main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    lines = sorted(out.splitlines())
    assert len(lines) == 2 and "cut.jpg\ttruncated JPEG" in lines[0] and "empty.jpg\tbad image" in lines[1]
    assert "2 bad of 8 images checked" in err
    os.remove(tmp_path / "train" / "class_0" / "cut.jpg")
    os.remove(tmp_path / "train" / "class_1" / "empty.jpg")
    assert check_images.main([str(tmp_path)]) == 0

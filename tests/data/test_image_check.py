"""The structural image check: the JPEGs that crashed MindSpore's decoder with SIGFPE (cut just after their
headers) are named before anything is decoded, valid files of every kind pass, and check_images lists them all."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from src.data.image_check import check_image_structure
from src.tools import check_images
from tests.support import ROOT, TINY, write_image_folder


def _jpeg(size=(64, 48), **save) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def _sos_end(data: bytes) -> int:
    """Offset just past the first start-of-scan header."""
    pos = 2
    while True:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        pos += 2 + length
        if marker == 0xDA:
            return pos


def _check(path):
    try:
        check_image_structure(str(path))
        return None
    except ValueError as e:
        return str(e)


def test_every_cut_through_the_headers_and_the_scan_is_caught(tmp_path):
    for kind, data in (("baseline", _jpeg(quality=90)), ("progressive", _jpeg(quality=90, progressive=True)),
                       ("exif", _jpeg(quality=85, exif=b"Exif\x00\x00" + b"\x00" * 64))):
        path = tmp_path / f"{kind}.jpg"
        path.write_bytes(data)
        assert _check(path) is None, kind
        end = len(data)
        for cut in list(range(2, _sos_end(data) + 8)) + list(range(_sos_end(data) + 8, end - 1, 37)):
            path.write_bytes(data[:cut])
            message = _check(path)
            assert message is not None and str(path) in message, (kind, cut)


def test_the_crashing_range_names_the_file_and_what_is_wrong(tmp_path):
    data = _jpeg()
    path = tmp_path / "cut.jpg"
    for cut in (300, 400, 500, 600):
        path.write_bytes(data[:cut])
        assert "truncated JPEG" in _check(path) and f"file is {cut} bytes" in _check(path)


def test_valid_files_pass_including_trailers_png_and_bmp(tmp_path):
    (tmp_path / "trailer.jpg").write_bytes(_jpeg() + b"\x00" * 5000)      # camera padding after the end marker
    (tmp_path / "restart.jpg").write_bytes(_jpeg(quality=75, subsampling=0))
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "a.bmp")
    image.convert("L").save(tmp_path / "gray.jpg")
    for name in os.listdir(tmp_path):
        assert _check(tmp_path / name) is None, name
    (tmp_path / "cut.png").write_bytes((tmp_path / "a.png").read_bytes()[:-20])
    (tmp_path / "cut.bmp").write_bytes((tmp_path / "a.bmp").read_bytes()[:-100])
    assert "truncated PNG" in _check(tmp_path / "cut.png")
    assert "truncated BMP" in _check(tmp_path / "cut.bmp")


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


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "eval.py"])
def test_a_jpeg_cut_after_its_headers_gives_an_error_not_a_crash(script, tmp_path):
    """Before: exit 136 (SIGFPE inside MindSpore's decoder), no message at all. Run in a subprocess, since the
    old behaviour kills the process."""
    write_image_folder(str(tmp_path / "data" / "train"), np.random.default_rng(0), classes=2, per_class=40)
    write_image_folder(str(tmp_path / "data" / "val"), np.random.default_rng(1), classes=2, per_class=3)
    split = "train" if script == "train.py" else "val"
    victim = tmp_path / "data" / split / "class_1" / "img_1.jpg"
    victim.write_bytes(victim.read_bytes()[:400])
    args = TINY[:-2] + ["--num_classes", "2", "--data_path", str(tmp_path / "data"), "--epoch_size", "1"]
    if script == "train.py":
        args += ["--output_dir", str(tmp_path / "out")]
    else:
        import mindspore as ms
        from src.models import create_model
        ckpt = tmp_path / "net.ckpt"
        ms.save_checkpoint(create_model("ghostnet_050", num_classes=2), str(ckpt))
        args += ["--checkpoint_path", str(ckpt)]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script)] + args, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, GLOG_v="3"))
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1500:])
    assert f"truncated JPEG '{victim}'" in proc.stderr
    assert "python -m src.tools.check_images DIR lists every such file" in proc.stderr
    assert "Traceback" not in proc.stderr

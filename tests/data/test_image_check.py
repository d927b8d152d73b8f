"""The structural image check (src/data/image_check.py): JPEGs cut just after their headers (which crash
MindSpore's decoder with SIGFPE) are named before anything is decoded, every cut through headers and scan is
caught, and valid files of every kind pass."""
import io
import os

import numpy as np
from PIL import Image

from src.data.image_check import check_image_structure


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

"""The structural check reads what JPEG header segments say: a damaged Huffman table (which kills MindSpore's
decoder with SIGSEGV) and other table damage are named before anything is decoded, and real images of every
kind (baseline, progressive, restart intervals, grayscale, CMYK, subsampled, PNG variants) still pass."""
import io

import numpy as np
import pytest
from PIL import Image

from src.data import jpeg_tables
from src.data.image_check import check_image_structure
from src.tools import check_images


def _picture(w=64, h=64, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _save(image, fmt="JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _segments(data: bytes):
    """{marker: [offset of each segment]} up to the EOI (scan data skipped)."""
    found, pos = {}, 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] != 0xD9:
        marker = data[pos + 1]
        found.setdefault(marker, []).append(pos)
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # entropy-coded data up to the next marker other than RSTn or a stuffed 00
            while pos + 1 < len(data) and not (data[pos] == 0xFF and data[pos + 1] not in (0, *range(0xD0, 0xD8))):
                pos += 1
    return found


def _set(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes((value % 256,)) + data[offset + 1:]


def _check(tmp_path, data: bytes, name="x.jpg"):
    path = tmp_path / name
    path.write_bytes(data)
    try:
        check_image_structure(str(path))
        return None
    except ValueError as e:
        return str(e)


def issue_dht_file() -> bytes:
    """The JPEG of the report: a 64x64 random RGB JPEG whose second DHT segment (AC luminance, FF C4 00 B5 10)
    has byte 20 after its start lowered by 54 (its 16-bit code count: the table then ends early)."""
    data = _save(_picture())
    at = data.find(b"\xff\xc4\x00\xb5\x10")
    assert at > 0
    return _set(data, at + 20, data[at + 20] - 54)


def test_the_damaged_huffman_table_of_the_report_is_flagged(tmp_path):
    message = _check(tmp_path, issue_dht_file())
    assert message is not None and "corrupt JPEG" in message and "Huffman table" in message


def test_without_the_table_checks_the_damaged_table_passes(tmp_path, monkeypatch):
    """The deliberate mistake: the walk of segments alone (what the check did before) lets the file through, so
    the test above fails without the table checks."""
    monkeypatch.setitem(jpeg_tables._HANDLERS, 0xC4, lambda self, seg, pos: None)
    assert _check(tmp_path, issue_dht_file()) is None


def test_check_images_lists_the_damaged_table(tmp_path, capsys):
    (tmp_path / "good.jpg").write_bytes(_save(_picture()))
    (tmp_path / "dht.jpg").write_bytes(issue_dht_file())
    assert check_images.main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(str(tmp_path / "dht.jpg") + "\tcorrupt JPEG") and len(out.splitlines()) == 1
    assert "1 bad of 2 images checked" in err


def _damaged():
    """(what, damaged bytes, expected words of the message) for table damage of several kinds."""
    base = _save(_picture(32, 32))
    prog = _save(_picture(32, 32), progressive=True)
    seg, pseg = _segments(base), _segments(prog)
    dht, dqt, sof, sos = seg[0xC4][0], seg[0xDB][0], seg[0xC0][0], seg[0xDA][0]
    first_dht = base[dht + 4:dht + 2 + int.from_bytes(base[dht + 2:dht + 4], "big")]
    over = bytearray(first_dht)
    total = sum(over[1:17])
    over[1:17] = bytes([2] + [0] * 14 + [total - 2])  # two 1-bit codes leave no room for the others
    cases = [
        ("DHT count beyond its segment", _set(base, dht + 5 + 15, 200), "more than its segment holds"),
        ("DHT class 2", _set(base, dht + 4, 0x20), "class 2"),
        ("DHT over-subscribed code", base[:dht + 4] + bytes(over) + base[dht + 4 + len(over):], "more codes"),
        ("DC symbol above 15", _set(base, dht + 4 + 17, 0x1F), "DC symbol"),
        ("DQT id 5", _set(base, dqt + 4, 0x05), "quantisation table precision 0 id 5"),
        ("DQT precision 1 in a segment sized for 8 bits", _set(base, dqt + 4, 0x10), "runs past"),
        ("SOF undefined quantisation table", _set(base, sof + 4 + 6 + 2, 3), "quantisation table 3, never"),
        ("SOF sampling 0", _set(base, sof + 4 + 6 + 1, 0x01), "sampling 0x1"),
        ("SOF sampling 5", _set(base, sof + 4 + 6 + 1, 0x51), "sampling 5x1"),
        ("SOF 12-bit", _set(base, sof + 4, 12), "12-bit"),
        ("lossless SOF3", _set(base, sof + 1, 0xC3), "SOF3"),
        ("SOS unknown component", _set(base, sos + 5, 9), "not distinct components"),
        ("SOS undefined Huffman table 2", _set(base, sos + 6, 0x22), "Huffman table 2, which was never defined"),
        ("unknown marker FFC8", _set(base, dht + 1, 0xC8), "unknown marker FFC8"),
        ("progressive DC scan with Se 5", _set(prog, pseg[0xDA][0] + 4 + 1 + 2 * prog[pseg[0xDA][0] + 4] + 1, 5),
         "progressive scan"),
        ("progressive, first DHT removed", prog[:pseg[0xC4][0]] + prog[pseg[0xC4][1]:], "never defined"),
    ]
    return cases


@pytest.mark.parametrize("what,data,words", _damaged(), ids=[c[0] for c in _damaged()])
def test_table_damage_is_flagged(tmp_path, what, data, words):
    message = _check(tmp_path, data)
    assert message is not None and words in message, (what, message)


def _valid_images():
    pic = _picture(40, 24, seed=3)
    return {
        "baseline.jpg": _save(pic, quality=90),
        "q100_444.jpg": _save(pic, quality=100, subsampling=0),
        "422.jpg": _save(pic, subsampling=1),
        "progressive.jpg": _save(pic, progressive=True),
        "progressive_444.jpg": _save(pic, progressive=True, subsampling=0),
        "restart_blocks.jpg": _save(pic, restart_marker_blocks=1),
        "restart_rows_progressive.jpg": _save(pic, progressive=True, restart_marker_rows=1),
        "optimized.jpg": _save(pic, optimize=True),
        "gray.jpg": _save(pic.convert("L")),
        "gray_progressive.jpg": _save(pic.convert("L"), progressive=True),
        "cmyk.jpg": _save(pic.convert("CMYK")),
        "exif_icc.jpg": _save(pic, exif=b"Exif\x00\x00" + b"\x00" * 64, icc_profile=b"\x00" * 3000),
        "comment.jpg": _save(pic, comment=b"made by a test"),
        "big.jpg": _save(_picture(400, 300), quality=95),
        "rgb.png": _save(pic, "PNG"),
        "palette.png": _save(pic.convert("P"), "PNG"),
        "rgba.png": _save(pic.convert("RGBA"), "PNG"),
        "gray16.png": _save(Image.fromarray(np.arange(960, dtype=np.uint16).reshape(24, 40) * 60), "PNG"),
        "optimized.png": _save(pic, "PNG", optimize=True),
        "text.png": _save(pic, "PNG", pnginfo=_png_text()),
    }


def _png_text():
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "x" * 100)
    return info


def test_real_images_of_every_kind_pass(tmp_path):
    for name, data in _valid_images().items():
        assert _check(tmp_path, data, name) is None, name


def test_png_header_damage_is_flagged(tmp_path):
    png = _save(_picture(16, 16), "PNG")
    idat = png.find(b"IDAT") - 4
    palette = _save(_picture(16, 16).convert("P"), "PNG")
    plte = palette.find(b"PLTE") - 4
    plte_end = plte + 12 + int.from_bytes(palette[plte:plte + 4], "big")
    cases = {
        "IHDR CRC": (_set(png, 29, png[29] ^ 1), "fails its CRC"),
        "IHDR interlace 2": (_set(png, 28, 2), "interlace 2"),
        "no IDAT": (png[:idat] + png[-12:], "no image data (IDAT)"),
        "palette image without PLTE": (palette[:plte] + palette[plte_end:], "without a palette"),
        "chunk type not letters": (_set(png, idat + 4, 0x31), "has type"),
    }
    for what, (data, words) in cases.items():
        message = _check(tmp_path, data, "x.png")
        assert message is not None and words in message, (what, message)


def test_a_large_file_with_headers_beyond_the_first_read_is_checked(tmp_path):
    """An APP segment longer than the first read (8 KiB) puts the tables after it: they are read and checked
    there too."""
    data = _save(_picture(300, 300, seed=5), quality=95, exif=b"Exif\x00\x00" + bytes(20000))
    assert len(data) > 65536 and _check(tmp_path, data) is None
    at = data.find(b"\xff\xc4")
    assert at > 8192
    assert "Huffman table class 2" in _check(tmp_path, _set(data, at + 4, 0x20))

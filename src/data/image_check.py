#!/usr/bin/env python3
"""Cheap structural check of JPEG, PNG and BMP files, run on every image before training or evaluation.

Why: MindSpore's C++ JPEG decoder (``vision.Decode`` / ``vision.RandomCropDecodeResize``, MindSpore 2.10 CPU) kills
the whole process -- SIGFPE (exit status 136, no message), sometimes SIGSEGV -- on a JPEG whose header is cut
after the frame header (SOF) and before the start-of-scan header (SOS) is complete, e.g. a download that stopped
after 200-600 bytes; and it loops forever (100 % CPU, no message) on a JPEG that ends right after an 0xFF byte of a
header marker.  MindSpore's source manager turns end-of-data into a libjpeg "suspension", ``jpeg_read_header``'s
JPEG_SUSPENDED result is ignored, and ``jpeg_calc_output_dimensions`` then divides by the still-zero
``scale_denom``.  In a progressive JPEG the DHT / SOS segments between the scans are headers too: a cut one
crashes the decoder even when an end-of-image marker follows.  A JPEG cut inside its entropy-coded data mostly
fails with a RuntimeError mid-run, and sometimes decodes "successfully" with the missing part filled with grey.

What is checked (headers and the last few KiB; pixels are never decoded):

* JPEG (jpeg_check.py, jpeg_tables.py): SOI; every marker segment up to the first scan (and, in a multi-scan
  file, between the scans) well formed, inside the file, and saying something the decoder can use -- Huffman
  tables that form a valid prefix code, quantisation tables defined before they are used, a supported frame
  (baseline / extended / progressive Huffman, 8-bit, 1, 3 or 4 components, sampling factors 1-4), scans whose
  components, tables and progression parameters are valid; entropy-coded data after the first SOS; an
  end-of-image marker after it.  A damaged Huffman table or a component without a quantisation table kills
  MindSpore's decoder (SIGSEGV) just as a cut header does.
* PNG (png_check.py): signature, IHDR first and valid, the chunks up to the first IDAT intact (CRC of IHDR and
  PLTE), a palette for an indexed image, IDAT present, and an IEND chunk in the last 4 KiB.
* BMP: the file header, a known DIB header size, non-zero width and height, a valid bit count, and that the
  pixel array (uncompressed) or the size the header declares (compressed) fits in the file.

A JPEG without an EOI is reported as truncated even though MindSpore decodes one that lacks only the two EOI
bytes: the check cannot tell "only the EOI is missing" from "the scan data is cut" without decoding, a cut scan
makes MindSpore fail with a RuntimeError or silently fill the image with grey, and Pillow (hence
``--image_check decode``) rejects both.  Damage inside the entropy-coded data is not detected: in the damage
sweep (``python -m src.tools.image_sweep``: every header byte and the first scan mutated, docs/image-damage-
sweep.md) the decoder reported it with a RuntimeError or decoded the file, and never crashed on it.

Files up to 64 KiB are read with one read call; larger ones with a head read (8 KiB, more for long headers) and a
tail read (4 KiB).  Standard library only.
"""
import os
import struct
from typing import Iterator, Tuple

from .jpeg_check import check_jpeg
from .png_check import check_png

__all__ = ["check_image_structure", "check_image_stream", "find_bad_images"]

_JPEG_SIG = b"\xff\xd8\xff"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_BMP_SIG = b"BM"
_HEAD = 8192      # bytes read at once from the start of a file (most headers fit; longer ones are seeked through)
_SMALL = 65536    # files up to this size are read in one go (one I/O request instead of a head and a tail read)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def check_image_structure(path):
    """Raise ValueError naming `path` when its JPEG, PNG or BMP structure is broken (e.g. truncated).

    The format is taken from the file's first bytes, not its name.  Only headers and the file's last bytes are
    read, so this costs about as much as opening the file; it does not prove that the pixel data decodes.
    Returns None for a file that passes.  OSError (unreadable file) is turned into ValueError too.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            check_image_stream(f, size, str(path))
    except OSError as e:
        raise ValueError(f"cannot read image '{path}': {e.strerror or e}") from None


def check_image_stream(f, size, name="<image>"):
    """The check of `check_image_structure` on an open binary file object `f` of `size` bytes (seekable).

    `name` is used in the error messages.
    """
    f.seek(0)
    head = f.read(size if size <= _SMALL else _HEAD)
    if not head:
        raise ValueError(f"bad image '{name}': empty file")
    if head.startswith(_JPEG_SIG):
        check_jpeg(f, head, size, name)
    elif head.startswith(_PNG_SIG):
        check_png(f, head, size, name)
    elif head.startswith(_BMP_SIG):
        _check_bmp(head, size, name)
    elif len(head) < 8 and (_JPEG_SIG.startswith(head[:3]) or _PNG_SIG.startswith(head)):
        raise ValueError(f"truncated image '{name}': only {size} bytes")
    else:
        raise ValueError(f"bad image '{name}': not a JPEG, PNG or BMP file (starts with {head[:8].hex(' ')})")


# ------------------------------------------------------------------------------------------------------ BMP
def _check_bmp(head, size, name):
    if size < 26:
        raise ValueError(f"truncated BMP '{name}': only {size} bytes, no complete header")
    declared, _r1, _r2, off_bits, dib = struct.unpack("<IHHII", head[2:18])
    if dib == 12:                                   # OS/2 BITMAPCOREHEADER
        width, height, _planes, bpp = struct.unpack("<HHHH", head[18:26])
        compression = 0
    elif dib in (16, 40, 52, 56, 64, 108, 124):
        if size < 14 + 20:
            raise ValueError(f"truncated BMP '{name}': only {size} bytes, no complete header")
        width, height, _planes, bpp, compression = struct.unpack("<iiHHI", head[18:34])
    else:
        raise ValueError(f"corrupt BMP '{name}': unknown DIB header size {dib}")
    if width <= 0 or height == 0:
        raise ValueError(f"corrupt BMP '{name}': header gives a {width}x{height} image")
    if bpp not in (1, 2, 4, 8, 16, 24, 32):
        raise ValueError(f"corrupt BMP '{name}': invalid bit count {bpp}")
    if off_bits < 14 + dib or off_bits > size:
        raise ValueError(f"truncated BMP '{name}': pixel data offset {off_bits} lies outside the {size}-byte file"
                         if off_bits > size else f"corrupt BMP '{name}': pixel data offset {off_bits} is inside "
                                                 f"the header")
    if compression in (0, 3, 6):                   # BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS: fixed size
        stride = (width * bpp + 31) // 32 * 4
        need = off_bits + stride * abs(height)
        if size < need:
            raise ValueError(f"truncated BMP '{name}': {width}x{abs(height)} pixels at {bpp} bits need {need} "
                             f"bytes, the file has {size}")
    elif declared > size:                          # RLE / embedded JPEG or PNG: trust the declared size
        raise ValueError(f"truncated BMP '{name}': header declares {declared} bytes, the file has {size}")


def find_bad_images(root: str, extensions: Tuple[str, ...] = IMAGE_EXTENSIONS) -> Iterator[Tuple[str, str]]:
    """(path, message) for every bad image (by extension, case-insensitive) under `root`, recursively."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if name.lower().endswith(extensions):
                path = os.path.join(dirpath, name)
                try:
                    check_image_structure(path)
                except ValueError as e:
                    yield path, str(e)

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

* JPEG: SOI; every marker segment from SOI up to and including the first SOS header must be well formed and lie
  inside the file; exactly one SOF before SOS, with height and width > 0, 1, 3 or 4 components (what MindSpore
  decodes) and a length that matches its component count; an SOS header with 1-4 components; at least one byte
  of entropy-coded data after it; and an end-of-image marker (FF D9) after the scan data.  For a single-scan
  (baseline) file the EOI is looked for in the last 4 KiB (bytes after it -- zero padding, maker trailers,
  motion-photo videos -- are tolerated); only when it is not there is the rest of the file searched.  For a
  multi-scan (progressive, or non-interleaved) file every segment between the scans is followed to the EOI,
  which reads the whole file.
* PNG: signature, an IHDR chunk first (length 13, width and height > 0, a valid bit depth / colour type pair),
  and an IEND chunk in the last 4 KiB.
* BMP: the file header, a known DIB header size, non-zero width and height, a valid bit count, and that the
  pixel array (uncompressed) or the size the header declares (compressed) fits in the file.

A JPEG without an EOI is reported as truncated even though MindSpore decodes one that lacks only the two EOI
bytes: the check cannot tell "only the EOI is missing" from "the scan data is cut" without decoding, a cut scan
makes MindSpore fail with a RuntimeError or silently fill the image with grey, and Pillow (hence
``--image_check decode``) rejects both.

Files up to 64 KiB are read with one read call; larger ones with a head read (8 KiB, more for long headers) and a
tail read (4 KiB).  Standard library only.  Command line: ``python jpeg_check.py FOLDER [FOLDER ...]`` lists every
bad image under the folders (recursively), one "path<TAB>reason" line each, and exits with status 1 if there is
any.
"""
import os
import struct
from typing import Iterator, Tuple

__all__ = ["check_image_structure", "check_image_stream", "find_bad_images"]

_JPEG_SIG = b"\xff\xd8\xff"
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_BMP_SIG = b"BM"
_TAIL = 4096      # bytes at the end of the file searched for the EOI / IEND marker
_HEAD = 8192      # bytes read at once from the start of a file (most JPEG headers fit; longer ones are seeked through)
_SMALL = 65536    # files up to this size are read in one go (one I/O request instead of a head and a tail read)
_CHUNK = 1 << 20  # block size of the fallback EOI search
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")

# Start-of-frame markers: baseline, extended, progressive, lossless, and their differential / arithmetic forms.
# C4 (DHT), C8 (JPG, reserved) and CC (DAC) are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}   # RSTn and TEM carry no length field
_PROGRESSIVE = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_NAMES = {0xC4: "DHT", 0xCC: "DAC", 0xDA: "SOS", 0xDB: "DQT", 0xDC: "DNL", 0xDD: "DRI", 0xFE: "COM"}


def _marker(m):
    """'DHT segment (FFC4)' and the like, for messages."""
    if m in _SOF_MARKERS:
        name = f"SOF{m - 0xC0}"
    elif 0xE0 <= m <= 0xEF:
        name = f"APP{m - 0xE0}"
    else:
        name = _NAMES.get(m, "marker")
    return f"{name} segment (FF{m:02X})"


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
        _check_jpeg(f, head, size, name)
    elif head.startswith(_PNG_SIG):
        _check_png(f, head, size, name)
    elif head.startswith(_BMP_SIG):
        _check_bmp(head, size, name)
    elif len(head) < 8 and (_JPEG_SIG.startswith(head[:3]) or _PNG_SIG.startswith(head)):
        raise ValueError(f"truncated image '{name}': only {size} bytes")
    else:
        raise ValueError(f"bad image '{name}': not a JPEG, PNG or BMP file (starts with {head[:8].hex(' ')})")


# ----------------------------------------------------------------------------------------------------- JPEG
def _check_jpeg(f, head, size, name):
    def read_at(offset, n):
        if offset + n <= len(head):
            return head[offset:offset + n]
        f.seek(offset)
        return f.read(n)

    def truncated(what):
        return ValueError(f"truncated JPEG '{name}': {what} (file is {size} bytes)")

    pos = 2                       # after SOI
    sof = None
    while True:
        # A marker: one or more 0xFF fill bytes, then the marker code.
        b = read_at(pos, 2)
        if len(b) < 2:
            raise truncated(f"ends at offset {pos} inside the header, before the start-of-scan (SOS) segment")
        if b[0] != 0xFF:
            raise ValueError(f"corrupt JPEG '{name}': expected a marker at offset {pos}, found byte 0x{b[0]:02X} "
                             f"(a header segment has a wrong length)")
        marker = b[1]
        if marker == 0xFF:        # fill byte
            pos += 1
            continue
        if marker == 0x00:
            raise ValueError(f"corrupt JPEG '{name}': invalid marker FF00 at offset {pos}")
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == 0xD8:
            raise ValueError(f"corrupt JPEG '{name}': second start-of-image marker at offset {pos}")
        if marker == 0xD9:
            raise ValueError(f"corrupt JPEG '{name}': end-of-image marker at offset {pos} before any image data "
                             f"(no start-of-scan segment)")
        lb = read_at(pos + 2, 2)
        if len(lb) < 2:
            raise truncated(f"ends inside the length of the {_marker(marker)} at offset {pos}")
        length = struct.unpack(">H", lb)[0]
        if length < 2:
            raise ValueError(f"corrupt JPEG '{name}': {_marker(marker)} at offset {pos} has length {length}")
        end = pos + 2 + length
        if end > size:
            raise truncated(f"the {_marker(marker)} at offset {pos} needs {length + 2} bytes but the file "
                            f"ends {end - size} bytes short, before the first start-of-scan (SOS) segment")
        if marker in _SOF_MARKERS:
            if sof is not None:
                raise ValueError(f"corrupt JPEG '{name}': second frame header ({_marker(marker)}) at offset {pos}")
            seg = read_at(pos + 4, length - 2)
            if length < 8:
                raise ValueError(f"corrupt JPEG '{name}': frame header ({_marker(marker)}) at offset {pos} is "
                                 f"only {length} bytes")
            _precision, height, width, ncomp = struct.unpack(">BHHB", seg[:6])
            if length != 8 + 3 * ncomp:
                raise ValueError(f"corrupt JPEG '{name}': frame header at offset {pos} has length {length}, "
                                 f"which does not match its {ncomp} components")
            if width == 0 or height == 0:
                raise ValueError(f"corrupt JPEG '{name}': frame header gives a {width}x{height} image")
            if ncomp not in (1, 3, 4):
                raise ValueError(f"unsupported JPEG '{name}': {ncomp} colour components (MindSpore decodes 1, 3 "
                                 f"or 4)")
            sof = (marker, width, height, ncomp)
        elif marker == 0xDA:
            if sof is None:
                raise ValueError(f"corrupt JPEG '{name}': start-of-scan at offset {pos} before any frame header")
            ns = read_at(pos + 4, 1)[0]
            _check_sos(ns, length, pos, name)
            scan_start = end
            break
        pos = end

    if scan_start >= size:
        raise truncated("ends right after the start-of-scan header: no image data")
    if sof[0] in _PROGRESSIVE or ns < sof[3]:
        # Several scans: the DHT / SOS segments between them are headers too, and MindSpore crashes (SIGSEGV) on
        # a cut one even when an EOI follows, so walk every segment to the EOI (this reads the whole file).
        _walk_scans(f, scan_start, size, name, truncated, head)
        return
    # Single scan: the entropy-coded data cannot contain FF D9 (an FF there is followed by 00 or a restart code),
    # so the first FF D9 after the SOS header is the EOI.
    eoi = _find_after(f, b"\xff\xd9", scan_start, size, head)
    if eoi is None:
        raise truncated("no end-of-image marker (FF D9) after the image data; the scan data is probably cut")
    if eoi == scan_start:
        raise ValueError(f"corrupt JPEG '{name}': end-of-image marker right after the start-of-scan header: "
                         f"no image data")


def _check_sos(ns, length, pos, name):
    if not 1 <= ns <= 4 or length != 6 + 2 * ns:
        raise ValueError(f"corrupt JPEG '{name}': start-of-scan header at offset {pos} is malformed "
                         f"({ns} components, length {length})")


def _walk_scans(f, start, size, name, truncated, head=b""):
    """Follow a multi-scan (e.g. progressive) JPEG from the first scan's data to the EOI: every marker segment
    between the scans must lie inside the file, and an EOI must follow."""
    if len(head) >= size:
        data = head[start:size]
    else:
        f.seek(start)
        data = f.read(size - start)
    n = len(data)
    i = 0
    while True:
        j = data.find(b"\xff", i)
        if j < 0 or j + 1 >= n:
            raise truncated("no end-of-image marker (FF D9) after the image data; the scan data is probably cut")
        m = data[j + 1]
        if m == 0x00 or m in _STANDALONE:     # stuffed FF byte, restart marker
            i = j + 2
        elif m == 0xFF:                        # fill byte
            i = j + 1
        elif m == 0xD9:
            if j == 0:
                raise ValueError(f"corrupt JPEG '{name}': end-of-image marker right after the start-of-scan header: "
                                 f"no image data")
            return
        elif m == 0xD8 or m in _SOF_MARKERS:
            raise ValueError(f"corrupt JPEG '{name}': unexpected {_marker(m)} at offset {start + j}")
        else:
            if j + 4 > n:
                raise truncated(f"ends inside the {_marker(m)} at offset {start + j}, between two scans")
            length = struct.unpack(">H", data[j + 2:j + 4])[0]
            if length < 2:
                raise ValueError(f"corrupt JPEG '{name}': {_marker(m)} at offset {start + j} has length {length}")
            if j + 2 + length > n:
                raise truncated(f"the {_marker(m)} at offset {start + j} needs {length + 2} bytes but the file ends "
                                f"{j + 2 + length - n} bytes short")
            if m == 0xDA:
                _check_sos(data[j + 4], length, start + j, name)
            i = j + 2 + length


def _find_after(f, needle, start, size, head=b""):
    """Offset of the first `needle` at or after `start` in the file's last _TAIL bytes; failing that, in the rest
    of [start, size), read in blocks; None when absent."""
    tail_start = max(start, size - _TAIL)
    if len(head) >= size:                      # the whole file is in memory already
        tail = head[tail_start:size]
    else:
        f.seek(tail_start)
        tail = f.read(size - tail_start)
    i = tail.find(needle)
    if i >= 0:
        return tail_start + i
    if tail_start == start:
        return None
    # Rare: data after the EOI longer than _TAIL (maker trailers, motion photos), or a truncated file.
    pos = start
    f.seek(pos)
    carry = b""
    while pos < tail_start:
        block = f.read(min(_CHUNK, tail_start - pos))
        if not block:
            break
        buf = carry + block
        i = buf.find(needle)
        if i >= 0:
            return pos - len(carry) + i
        carry = buf[-(len(needle) - 1):]
        pos += len(block)
    # A needle straddling tail_start.
    edge = carry + tail[:len(needle) - 1]
    i = edge.find(needle)
    return tail_start - len(carry) + i if i >= 0 else None


# ------------------------------------------------------------------------------------------------------ PNG
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


def _check_png(f, head, size, name):
    if size < 8 + 25:
        raise ValueError(f"truncated PNG '{name}': only {size} bytes, no complete IHDR chunk")
    length, ctype = struct.unpack(">I4s", head[8:16])
    if ctype != b"IHDR" or length != 13:
        raise ValueError(f"corrupt PNG '{name}': the first chunk is not a 13-byte IHDR")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    if width == 0 or height == 0:
        raise ValueError(f"corrupt PNG '{name}': IHDR gives a {width}x{height} image")
    if depth not in _PNG_DEPTHS.get(color, ()):
        raise ValueError(f"corrupt PNG '{name}': invalid bit depth {depth} for colour type {color}")
    tail_start = max(33, size - _TAIL)
    if len(head) >= size:
        tail = head[tail_start:size]
    else:
        f.seek(tail_start)
        tail = f.read(size - tail_start)
    # IEND: length 0, type IEND, CRC AE 42 60 82; usually the last 12 bytes, but tolerate trailing bytes.
    if tail.rfind(b"\x00\x00\x00\x00IEND\xaeB`\x82") < 0:
        raise ValueError(f"truncated PNG '{name}': no IEND chunk at the end (file is {size} bytes)")


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

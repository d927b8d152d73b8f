"""The JPEG part of the structural check (image_check.py): walk the marker segments, check what each says
(jpeg_tables.py), and find the end-of-image marker.

* From SOI up to and including the first SOS header every marker segment must be well formed, lie inside the
  file and say something the decoder can use; at least one byte of entropy-coded data must follow, then an
  end-of-image marker (FF D9).
* Single scan (baseline): the entropy-coded data cannot contain FF D9, so the EOI is looked for in the last
  4 KiB (bytes after it -- zero padding, maker trailers, motion-photo videos -- are tolerated); only when it is
  not there is the rest of the file searched.
* Several scans (progressive, or non-interleaved): the DHT / DQT / DRI / SOS segments between the scans are
  headers too (MindSpore's decoder crashes on a cut or damaged one even when an EOI follows), so every segment
  is followed and checked up to the EOI, which reads the whole file.
"""
import re

from .jpeg_tables import SKIPPED, JpegTables

_TAIL = 4096      # bytes at the end of the file searched for the EOI marker
_CHUNK = 1 << 20  # block size of the fallback EOI search

_STANDALONE = frozenset(range(0xD0, 0xD8)) | {0x01}   # RSTn and TEM carry no length field
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# A marker in entropy-coded data: FF followed by anything but a stuffed 00, TEM, a restart code or a fill FF.
_MARKER = re.compile(rb"\xff[^\x00\x01\xd0-\xd7\xff]")
_NAMES = {0xC4: "DHT", 0xCC: "DAC", 0xDA: "SOS", 0xDB: "DQT", 0xDC: "DNL", 0xDD: "DRI", 0xFE: "COM"}


def marker_name(m: int) -> str:
    """'DHT segment (FFC4)' and the like, for messages."""
    if m in _SOF_MARKERS:
        name = f"SOF{m - 0xC0}"
    elif 0xE0 <= m <= 0xEF:
        name = f"APP{m - 0xE0}"
    else:
        name = _NAMES.get(m, "marker")
    return f"{name} segment (FF{m:02X})"


class _Reader:
    """Byte ranges of a file, served from its first bytes (`head`) when they hold them."""

    def __init__(self, f, head: bytes, size: int, name: str):
        self.f, self.head, self.size, self.name = f, head, size, name

    def at(self, offset: int, n: int) -> bytes:
        if offset + n <= len(self.head):
            return self.head[offset:offset + n]
        self.f.seek(offset)
        return self.f.read(n)

    def truncated(self, what: str) -> ValueError:
        return ValueError(f"truncated JPEG '{self.name}': {what} (file is {self.size} bytes)")

    def corrupt(self, what: str) -> ValueError:
        return ValueError(f"corrupt JPEG '{self.name}': {what}")


def check_jpeg(f, head: bytes, size: int, name: str) -> None:
    """Raise ValueError when the JPEG in `f` (`size` bytes; `head`: its first bytes) is cut or its headers are
    damaged (see the module docstring)."""
    r = _Reader(f, head, size, name)
    tables = JpegTables(name)
    scan_start = _read_headers(r, tables)
    if scan_start >= size:
        raise r.truncated("ends right after the start-of-scan header: no image data")
    if tables.progressive or tables.scan_components < len(tables.frame):
        _walk_scans(r, scan_start, tables)
        return
    eoi = _find_after(r, b"\xff\xd9", scan_start)
    if eoi is None:
        raise r.truncated("no end-of-image marker (FF D9) after the image data; the scan data is probably cut")
    if eoi == scan_start:
        raise r.corrupt("end-of-image marker right after the start-of-scan header: no image data")


def _read_headers(r: _Reader, tables: JpegTables) -> int:
    """Check every segment from SOI to the end of the first SOS header; return the offset after it."""
    head, size, pos = r.head, r.size, 2
    n = len(head)
    while True:
        b = head[pos:pos + 4] if pos + 4 <= n else r.at(pos, 4)
        if len(b) < 2:
            raise r.truncated(f"ends at offset {pos} inside the header, before the start-of-scan (SOS) segment")
        if b[0] != 0xFF:
            raise r.corrupt(f"expected a marker at offset {pos}, found byte 0x{b[0]:02X} (a header segment has a "
                            f"wrong length)")
        marker = b[1]
        if marker == 0xFF:        # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0x00, 0xD8, 0xD9):
            raise r.corrupt(f"marker FF{marker:02X} at offset {pos} before the start-of-scan segment")
        if len(b) < 4:
            raise r.truncated(f"ends inside the length of the {marker_name(marker)} at offset {pos}")
        length = (b[2] << 8) | b[3]
        if length < 2:
            raise r.corrupt(f"{marker_name(marker)} at offset {pos} has length {length}")
        end = pos + 2 + length
        if end > size:
            raise r.truncated(f"the {marker_name(marker)} at offset {pos} needs {length + 2} bytes but the file "
                              f"ends {end - size} bytes short, before the first start-of-scan (SOS) segment")
        if marker not in SKIPPED:
            tables.segment(marker, head[pos + 4:end] if end <= n else r.at(pos + 4, length - 2), pos)
        if marker == 0xDA:
            return end
        pos = end


def _walk_scans(r: _Reader, start: int, tables: JpegTables) -> None:
    """Follow a multi-scan JPEG from the first scan's data to the EOI: every marker segment between the scans
    must lie inside the file and be sound, and an EOI must follow."""
    data = r.head[start:r.size] if len(r.head) >= r.size else r.at(start, r.size - start)
    n, i = len(data), 0
    while True:
        match = _MARKER.search(data, i)
        if match is None:
            raise r.truncated("no end-of-image marker (FF D9) after the image data; the scan data is probably cut")
        j = match.start()
        m = data[j + 1]
        if m == 0xD9:
            if j == 0:
                raise r.corrupt("end-of-image marker right after the start-of-scan header: no image data")
            return
        if m == 0xD8 or m in _SOF_MARKERS:
            raise r.corrupt(f"unexpected {marker_name(m)} at offset {start + j}")
        if j + 4 > n:
            raise r.truncated(f"ends inside the {marker_name(m)} at offset {start + j}, between two scans")
        length = (data[j + 2] << 8) | data[j + 3]
        if length < 2:
            raise r.corrupt(f"{marker_name(m)} at offset {start + j} has length {length}")
        if j + 2 + length > n:
            raise r.truncated(f"the {marker_name(m)} at offset {start + j} needs {length + 2} bytes but the "
                              f"file ends {j + 2 + length - n} bytes short")
        tables.segment(m, data[j + 4:j + 2 + length], start + j)
        i = j + 2 + length


def _find_after(r: _Reader, needle: bytes, start: int):
    """Offset of the first `needle` at or after `start` in the file's last _TAIL bytes; failing that, in the rest
    of [start, size), read in blocks; None when absent."""
    size = r.size
    tail_start = max(start, size - _TAIL)
    tail = r.head[tail_start:size] if len(r.head) >= size else r.at(tail_start, size - tail_start)
    i = tail.find(needle)
    if i >= 0:
        return tail_start + i
    if tail_start == start:
        return None
    # Rare: data after the EOI longer than _TAIL (maker trailers, motion photos), or a truncated file.
    pos = start
    r.f.seek(pos)
    carry = b""
    while pos < tail_start:
        block = r.f.read(min(_CHUNK, tail_start - pos))
        if not block:
            break
        buf = carry + block
        i = buf.find(needle)
        if i >= 0:
            return pos - len(carry) + i
        carry = buf[-(len(needle) - 1):]
        pos += len(block)
    edge = carry + tail[:len(needle) - 1]   # a needle straddling tail_start
    i = edge.find(needle)
    return tail_start - len(carry) + i if i >= 0 else None

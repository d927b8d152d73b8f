"""What a JPEG's header segments say, checked as libjpeg(-turbo) reads them (used by jpeg_check.py).

MindSpore's decoder kills the process (SIGSEGV, SIGFPE, SIGBUS) instead of raising on several header contents
that libjpeg does not check itself, e.g. a Huffman table whose code lengths over-subscribe the code space or whose
counts run past its segment, or a component whose quantisation table was never defined. So every segment's
contents are checked here, in file order, with the state libjpeg keeps between them:

* DHT: table class 0/1 and id 0-3, symbol counts that fit the segment (at most 256), the segments' tables filling
  it exactly.  A table's code (counts of codes of each length must not over-subscribe the code space, DC symbols
  0-15, at least one code) is checked when a scan uses it, as libjpeg does, so an unused odd table passes.
  In a sequential JPEG tables 0 and 1 may be left undefined (libjpeg then uses the standard tables); in a
  progressive one (where the decoder crashes on it) no table may.
* DQT: precision 0/1, id 0-3, the tables filling the segment exactly; a component's table must be defined
  before the first scan that includes it.
* SOF: baseline, extended or progressive Huffman coding (SOF0/1/2), 8-bit samples, width and height 1-65500,
  1, 3 or 4 components with distinct ids, sampling factors 1-4 that divide the largest ones, table ids 0-3.
* SOS: components of the frame, each once; at most 10 blocks per MCU in an interleaved scan; for a progressive
  frame valid spectral selection and successive approximation (Ss, Se, Ah, Al); the Huffman tables it uses.
* DRI: length 4.  DAC: well-formed conditioning values.  Any other marker (reserved, JPGn, lossless or
  hierarchical SOF) is refused, as libjpeg does.
"""
import struct

# Markers whose segments libjpeg reads without looking at their contents (APPn, COM, DNL).
SKIPPED = frozenset(range(0xE0, 0xF0)) | {0xFE, 0xDC}
_SUPPORTED_SOF = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive"}
_MAX_DIMENSION = 65500
_MAX_BLOCKS_IN_MCU = 10


class JpegTables:
    """The tables and frame defined so far in one JPEG; `segment` checks the next segment and records it."""

    def __init__(self, name: str):
        self.name = name
        self.frame = None       # {component id: (h, v, quant table id)}
        self.progressive = False
        self.quant = set()      # quantisation table ids defined so far
        self.huffman = {}       # (class, id) -> None for a usable code, else what is wrong with it
        self.latched = set()    # components whose quantisation table was fixed by an earlier scan
        self.scan_components = 0  # components in the first scan

    def error(self, pos: int, what: str) -> ValueError:
        return ValueError(f"corrupt JPEG '{self.name}': {what} (segment at offset {pos})")

    def segment(self, marker: int, seg: bytes, pos: int) -> None:
        """Check the payload `seg` (after the length field) of the segment with `marker` at offset `pos`."""
        if marker in SKIPPED:
            return
        handler = _HANDLERS.get(marker)
        if handler is None:
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                raise ValueError(f"unsupported JPEG '{self.name}': frame type SOF{marker - 0xC0} at offset {pos} "
                                 f"(the decoder reads baseline, extended and progressive Huffman-coded JPEGs)")
            raise self.error(pos, f"unknown marker FF{marker:02X}")
        handler(self, seg, pos)

    def dht(self, seg: bytes, pos: int) -> None:
        tables = _DHT_SEEN.get(seg)
        if tables is None:
            tables = _parse_dht(seg)
            _remember(_DHT_SEEN, seg, tables)
        if isinstance(tables, str):
            raise self.error(pos, tables)
        self.huffman.update(tables)

    def dqt(self, seg: bytes, pos: int) -> None:
        tables = _DQT_SEEN.get(seg)
        if tables is None:
            tables = _parse_dqt(seg)
            _remember(_DQT_SEEN, seg, tables)
        if isinstance(tables, str):
            raise self.error(pos, tables)
        self.quant.update(tables)

    def sof(self, seg: bytes, pos: int, marker: int) -> None:
        if self.frame is not None:
            raise self.error(pos, "second frame header (SOF)")
        frame = _SOF_SEEN.get(seg)
        if frame is None:
            frame = self._parse_sof(seg, pos)
            _remember(_SOF_SEEN, seg, frame)
        self.frame, self.progressive = frame, marker == 0xC2

    def _parse_sof(self, seg: bytes, pos: int) -> dict:
        """{component id: (h, v, quantisation table id)} of a frame header's payload."""
        if len(seg) < 6:
            raise self.error(pos, f"frame header is only {len(seg) + 2} bytes")
        precision, height, width, ncomp = struct.unpack(">BHHB", seg[:6])
        if len(seg) != 6 + 3 * ncomp:
            raise self.error(pos, f"frame header has length {len(seg) + 2}, which does not match its {ncomp} "
                                  f"components")
        if width == 0 or height == 0 or width > _MAX_DIMENSION or height > _MAX_DIMENSION:
            raise self.error(pos, f"frame header gives a {width}x{height} image (each side 1-{_MAX_DIMENSION})")
        if ncomp not in (1, 3, 4):
            raise ValueError(f"unsupported JPEG '{self.name}': {ncomp} colour components (MindSpore decodes 1, 3 "
                             f"or 4)")
        if precision != 8:
            raise ValueError(f"unsupported JPEG '{self.name}': {precision}-bit samples (the decoder reads 8-bit)")
        frame, max_h, max_v = {}, 1, 1
        for k in range(6, len(seg), 3):
            cid, h, v, tq = seg[k], seg[k + 1] >> 4, seg[k + 1] & 15, seg[k + 2]
            if cid in frame or not (1 <= h <= 4 and 1 <= v <= 4) or tq > 3:
                raise self.error(pos, f"frame component {cid}: duplicate id, sampling {h}x{v} (1-4 each) or "
                                      f"quantisation table {tq} (0-3)")
            frame[cid] = (h, v, tq)
            max_h, max_v = max(max_h, h), max(max_v, v)
        if any(max_h % h or max_v % v for h, v, _ in frame.values()):
            raise self.error(pos, "sampling factors that do not divide the largest ones")
        return frame

    def sos(self, seg: bytes, pos: int) -> None:
        frame = self.frame
        if frame is None:
            raise self.error(pos, "start-of-scan before any frame header")
        key = (seg, self.progressive)
        parsed = _SOS_SEEN.get(key)
        if parsed is None:
            parsed = self._parse_sos(seg, pos)
            _remember(_SOS_SEEN, key, parsed)
        scan, tables = parsed
        self.scan_components = self.scan_components or len(scan)
        blocks = 0
        for c in scan:
            component = frame.get(c)
            if component is None:
                raise self.error(pos, f"scan components {list(scan)} are not distinct components of the frame "
                                      f"{sorted(frame)}")
            blocks += component[0] * component[1]
            if c not in self.latched:
                if component[2] not in self.quant:
                    raise self.error(pos, f"component {c} uses quantisation table {component[2]}, never defined")
                self.latched.add(c)
        if len(scan) > 1 and blocks > _MAX_BLOCKS_IN_MCU:
            raise self.error(pos, f"more than {_MAX_BLOCKS_IN_MCU} blocks per MCU in an interleaved scan")
        huffman = self.huffman
        for table in tables:
            problem = huffman.get(table, _UNDEFINED)
            if problem is not None and (problem is not _UNDEFINED or table[1] > 1 or self.progressive):
                raise self.error(pos, f"the scan uses {('DC', 'AC')[table[0]]} Huffman table {table[1]}, which "
                                      f"{'was never defined' if problem is _UNDEFINED else problem}")

    def _parse_sos(self, seg: bytes, pos: int):
        """(component ids, the (class, id) of each Huffman table used) of a scan header's payload."""
        ns = seg[0] if seg else 0
        if not 1 <= ns <= 4 or len(seg) != 4 + 2 * ns:
            raise self.error(pos, f"start-of-scan header is malformed ({ns} components, length {len(seg) + 2})")
        scan = seg[1:1 + 2 * ns:2]
        if len(set(scan)) != ns:
            raise self.error(pos, f"scan components {list(scan)} are not distinct components of the frame "
                                  f"{sorted(self.frame)}")
        ss, se, ah, al = seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns] >> 4, seg[3 + 2 * ns] & 15
        if self.progressive and ((se != 0) if ss == 0 else (ss > se or se > 63 or ns != 1)
                                 or (ah and al != ah - 1) or al > 13):
            raise self.error(pos, f"progressive scan with Ss={ss} Se={se} Ah={ah} Al={al}")
        dc = not self.progressive or (ss == 0 and ah == 0)
        ac = not self.progressive or ss > 0
        tables = []
        for k in range(ns):
            if dc:
                tables.append((0, seg[2 + 2 * k] >> 4))
            if ac:
                tables.append((1, seg[2 + 2 * k] & 15))
        return tuple(scan), tuple(tables)

    def dri(self, seg: bytes, pos: int) -> None:
        if len(seg) != 2:
            raise self.error(pos, f"restart interval segment has length {len(seg) + 2} (expected 4)")

    def dac(self, seg: bytes, pos: int) -> None:
        if len(seg) % 2 or any(seg[k] > 7 or (seg[k] < 4 and seg[k + 1] & 15 > seg[k + 1] >> 4)
                               for k in range(0, len(seg), 2)):
            raise self.error(pos, "malformed arithmetic-coding conditioning segment (DAC)")


# Segments seen before and what they define (or what is wrong with them): the files of one data set mostly share
# their tables, and looking a segment up costs less than parsing it.
_DHT_SEEN, _DQT_SEEN, _SOF_SEEN, _SOS_SEEN = {}, {}, {}, {}
_UNDEFINED = object()  # a Huffman table slot no DHT has filled


def _remember(seen: dict, key, result) -> None:
    """Keep `result` for `key` (a segment's bytes, small ones only), at most 4096 of them."""
    if len(key if isinstance(key, bytes) else key[0]) > 2048:
        return
    if len(seen) > 4096:
        seen.clear()
    seen[key] = result


def _parse_dht(seg: bytes):
    """{(class, id): None or what is wrong with its code} for the tables of a DHT payload, or what is wrong with
    the segment (a str)."""
    tables, i, n = {}, 0, len(seg)
    while i < n:
        if n - i < 17:
            return f"Huffman table segment has {n - i} stray bytes at its end"
        cls, tid = seg[i] >> 4, seg[i] & 15
        if cls > 1 or tid > 3:
            return f"Huffman table class {cls} id {tid} (expected class 0-1, id 0-3)"
        counts = seg[i + 1:i + 17]
        total = sum(counts)
        if total > 256 or i + 17 + total > n:
            return f"Huffman table counts {total} symbols, more than its segment holds"
        tables[(cls, tid)] = _code_problem(counts, seg[i + 17:i + 17 + total], cls == 0)
        i += 17 + total
    return tables


def _parse_dqt(seg: bytes):
    """The ids of the tables of a DQT payload, or what is wrong with it (a str)."""
    ids, i, n = set(), 0, len(seg)
    while i < n:
        precision, tid = seg[i] >> 4, seg[i] & 15
        if precision > 1 or tid > 3:
            return f"quantisation table precision {precision} id {tid} (expected 0-1, 0-3)"
        i += 1 + 64 * (precision + 1)
        if i > n:
            return "quantisation table runs past the end of its segment"
        ids.add(tid)
    return ids


def _code_problem(counts: bytes, symbols: bytes, dc: bool):
    """None when the counts of codes of each length form a usable prefix code (as libjpeg builds it, the
    all-ones code of a length is not allowed) and DC symbols are 0-15; else what is wrong."""
    problem = _prefix_code_problem(counts)
    if problem is None and dc and max(symbols) > 15:
        return f"has DC symbol {max(symbols)} (expected 0-15)"
    return problem


def _prefix_code_problem(counts: bytes):
    if not any(counts):
        return "has no codes"
    code = 0
    for length, count in enumerate(counts, 1):
        code = 2 * code + count
        if code >= 1 << length:
            return f"has more codes of up to {length} bits than such codes exist"
    return None


_HANDLERS = {0xC4: JpegTables.dht, 0xDB: JpegTables.dqt, 0xDA: JpegTables.sos, 0xDD: JpegTables.dri,
             0xCC: JpegTables.dac}
_HANDLERS.update({m: (lambda self, seg, pos, m=m: self.sof(seg, pos, m)) for m in _SUPPORTED_SOF})

"""The PNG part of the structural check (image_check.py): the signature, every chunk up to the first IDAT
(length, type, inside the file; the CRC of the critical IHDR and PLTE chunks), a valid IHDR, a palette for an
indexed image, image data (IDAT), and an IEND chunk in the last 4 KiB. Image data is not decompressed."""
import struct
import zlib

_TAIL = 4096
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"   # length 0, type IEND, its CRC
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_MAX_CHUNK = (1 << 31) - 1


def check_png(f, head: bytes, size: int, name: str) -> None:
    """Raise ValueError when the PNG in `f` (`size` bytes; `head`: its first bytes) is cut or its header chunks
    are damaged."""
    if size < 8 + 25:
        raise ValueError(f"truncated PNG '{name}': only {size} bytes, no complete IHDR chunk")
    length, ctype = struct.unpack(">I4s", head[8:16])
    if ctype != b"IHDR" or length != 13:
        raise ValueError(f"corrupt PNG '{name}': the first chunk is not a 13-byte IHDR")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if not (0 < width <= _MAX_CHUNK and 0 < height <= _MAX_CHUNK):
        raise ValueError(f"corrupt PNG '{name}': IHDR gives a {width}x{height} image")
    if depth not in _DEPTHS.get(color, ()):
        raise ValueError(f"corrupt PNG '{name}': invalid bit depth {depth} for colour type {color}")
    if compression or filtering or interlace > 1:
        raise ValueError(f"corrupt PNG '{name}': IHDR compression {compression}, filter {filtering}, interlace "
                         f"{interlace} (expected 0, 0, 0 or 1)")
    _walk_to_idat(f, head, size, name, color)
    tail_start = max(33, size - _TAIL)
    if len(head) >= size:
        tail = head[tail_start:size]
    else:
        f.seek(tail_start)
        tail = f.read(size - tail_start)
    if tail.rfind(_IEND) < 0:     # usually the last 12 bytes, but trailing bytes are tolerated
        raise ValueError(f"truncated PNG '{name}': no IEND chunk at the end (file is {size} bytes)")


def _walk_to_idat(f, head: bytes, size: int, name: str, color: int) -> None:
    """Follow the chunks from IHDR to the first IDAT, checking each one's frame and critical CRCs."""
    pos, palette = 8, False
    while True:
        if pos + 12 > size:
            raise ValueError(f"truncated PNG '{name}': ends at offset {pos} before any image data (IDAT)")
        header = head[pos:pos + 8] if pos + 8 <= len(head) else _read(f, pos, 8)
        length, ctype = struct.unpack(">I4s", header)
        if length > _MAX_CHUNK or not ctype.isalpha():
            raise ValueError(f"corrupt PNG '{name}': chunk at offset {pos} has type {ctype!r}, length {length}")
        if pos + 12 + length > size:
            raise ValueError(f"truncated PNG '{name}': the {ctype.decode()} chunk at offset {pos} runs past the "
                             f"end of the file ({size} bytes)")
        if ctype == b"IDAT":
            if color == 3 and not palette:
                raise ValueError(f"corrupt PNG '{name}': indexed-colour image without a palette (PLTE)")
            return
        if ctype == b"IEND":
            raise ValueError(f"corrupt PNG '{name}': no image data (IDAT) before the IEND chunk")
        if ctype in (b"IHDR", b"PLTE"):
            if ctype == b"IHDR" and pos != 8:
                raise ValueError(f"corrupt PNG '{name}': second IHDR chunk at offset {pos}")
            body = head[pos + 4:pos + 12 + length] if pos + 12 + length <= len(head) else \
                _read(f, pos + 4, length + 8)
            if zlib.crc32(body[:-4]) != struct.unpack(">I", body[-4:])[0]:
                raise ValueError(f"corrupt PNG '{name}': the {ctype.decode()} chunk at offset {pos} fails its CRC")
            if ctype == b"PLTE" and color == 3 and (length % 3 or length > 768):
                raise ValueError(f"corrupt PNG '{name}': palette of {length} bytes (a multiple of 3, at most 768)")
            palette = palette or ctype == b"PLTE"
        pos += 12 + length


def _read(f, offset: int, n: int) -> bytes:
    f.seek(offset)
    return f.read(n)

"""A small gzip encoder whose output depends on nothing but its input.

``zlib.compress`` is not that: its bytes change with the zlib build (zlib-ng, which Fedora and the
python-build-standalone interpreters ship, emits different streams), and the demo capture must be
byte-identical everywhere. This encoder does greedy LZ77 matching into one block with the fixed
Huffman codes of RFC 1951 3.2.6: real compression, about half the size of HTML, and a stream any
inflater reads.
"""

from __future__ import annotations

import struct
import zlib
from bisect import bisect_right

# RFC 1951 3.2.5: base values and extra bits of the length codes 257..285 and distance codes 0..29.
_LENGTH_BASE = (3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99,
                115, 131, 163, 195, 227, 258)  # fmt: skip
_LENGTH_EXTRA = (
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    1,
    1,
    1,
    1,
    2,
    2,
    2,
    2,
    3,
    3,
    3,
    3,
    4,
    4,
    4,
    4,
    5,
    5,
    5,
    5,
    0,
)
_DIST_BASE = (1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
              1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577)  # fmt: skip
_DIST_EXTRA = (0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
               12, 13, 13)  # fmt: skip
_MIN_MATCH, _MAX_MATCH, _WINDOW = 3, 258, 32768
_END_OF_BLOCK = 256


class _BitWriter:
    """Packs bits least-significant first, as DEFLATE does (RFC 1951 3.1.1)."""

    def __init__(self) -> None:
        self._acc = 0
        self._count = 0
        self.out = bytearray()

    def bits(self, value: int, count: int) -> None:
        self._acc |= value << self._count
        self._count += count
        while self._count >= 8:
            self.out.append(self._acc & 0xFF)
            self._acc >>= 8
            self._count -= 8

    def code(self, code: int, length: int) -> None:
        """A Huffman code, which DEFLATE stores starting from its most significant bit."""
        self.bits(int(f"{code:0{length}b}"[::-1], 2), length)

    def flush(self) -> bytes:
        if self._count:
            self.out.append(self._acc & 0xFF)
            self._acc = self._count = 0
        return bytes(self.out)


def _literal_length(w: _BitWriter, symbol: int) -> None:
    # The fixed literal/length code (RFC 1951 3.2.6).
    if symbol < 144:
        w.code(0x30 + symbol, 8)
    elif symbol < 256:
        w.code(0x190 + symbol - 144, 9)
    elif symbol < 280:
        w.code(symbol - 256, 7)
    else:
        w.code(0xC0 + symbol - 280, 8)


def _match(w: _BitWriter, length: int, distance: int) -> None:
    i = bisect_right(_LENGTH_BASE, length) - 1
    _literal_length(w, 257 + i)
    w.bits(length - _LENGTH_BASE[i], _LENGTH_EXTRA[i])
    d = bisect_right(_DIST_BASE, distance) - 1
    w.code(d, 5)
    w.bits(distance - _DIST_BASE[d], _DIST_EXTRA[d])


def deflate(data: bytes) -> bytes:
    """A raw DEFLATE stream: one final block with fixed Huffman codes."""
    w = _BitWriter()
    w.bits(1, 1)  # BFINAL
    w.bits(1, 2)  # BTYPE 01: fixed Huffman codes
    last_seen: dict[bytes, int] = {}  # most recent position of each 3-byte string
    i, n = 0, len(data)
    while i < n:
        key = data[i : i + _MIN_MATCH]
        j = last_seen.get(key, -1)
        length = 0
        if j >= 0 and i - j <= _WINDOW:
            length = _MIN_MATCH
            while length < _MAX_MATCH and i + length < n and data[j + length] == data[i + length]:
                length += 1
        if length:
            _match(w, length, i - j)
            for k in range(i, i + length):
                last_seen[data[k : k + _MIN_MATCH]] = k
            i += length
        else:
            _literal_length(w, data[i])
            last_seen[key] = i
            i += 1
    _literal_length(w, _END_OF_BLOCK)
    return w.flush()


def gzip_compress(data: bytes) -> bytes:
    """A gzip member (RFC 1952) with no name and modification time 0, from a Unix host (OS 3)."""
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x00\x03"
    trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
    return header + deflate(data) + trailer

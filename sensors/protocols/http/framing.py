"""Message body framing (RFC 9112 section 6): a length, chunked transfer coding, or the end of
the connection. A framer takes the body's bytes off the wire and hands out the payload.

Chunked bodies are read leniently, as servers read them: bare LF line ends, chunk extensions and
whitespace after the size, a missing CRLF after a chunk's data. A chunk size that is not hex or
does not fit in 64 bits (Zeek's 261 variants) cannot be framed: the body ends there with a problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sensors.protocols.http.message import add_problem

Sink = Callable[[bytes], None]

_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
#: The longest chunk-size line (with extensions) read before giving up on the body.
MAX_CHUNK_LINE = 4096


class Framer:
    """Hands a body's payload to ``sink``; ``feed`` returns where in ``data`` the body ended
    (``len(data)`` when it goes on). ``done`` is set at the body's end; ``broken`` when the body
    cannot be framed any further (the rest of the direction is not HTTP we can follow)."""

    done: bool = False
    broken: bool = False

    def __init__(self, sink: Sink, problems: list[str]) -> None:
        self.sink = sink
        self.problems = problems

    def feed(self, data: bytes, pos: int) -> int:
        raise NotImplementedError

    def gap(self, size: int) -> bool:
        """``size`` bytes of the body were never seen; False when framing is lost."""
        return False


class LengthFramer(Framer):
    def __init__(self, sink: Sink, problems: list[str], length: int) -> None:
        super().__init__(sink, problems)
        self.remaining = length
        self.done = length == 0

    def feed(self, data: bytes, pos: int) -> int:
        take = min(self.remaining, len(data) - pos)
        if take:
            self.sink(data[pos : pos + take] if pos or take < len(data) else data)
        self.remaining -= take
        self.done = self.remaining == 0
        return pos + take

    def gap(self, size: int) -> bool:
        skipped = min(size, self.remaining)
        self.remaining -= skipped
        self.done = self.remaining == 0
        return skipped == size


class CloseFramer(Framer):
    """The body runs to the end of the connection (a response without a length, HTTP/1.0)."""

    def feed(self, data: bytes, pos: int) -> int:
        if pos < len(data):
            self.sink(data[pos:] if pos else data)
        return len(data)

    def gap(self, size: int) -> bool:
        return True


_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class ChunkedFramer(Framer):
    def __init__(self, sink: Sink, problems: list[str]) -> None:
        super().__init__(sink, problems)
        self.state = _SIZE
        self.remaining = 0
        self.line = bytearray()

    def feed(self, data: bytes, pos: int) -> int:
        end = len(data)
        while pos < end and not self.done and not self.broken:
            if self.state == _DATA:
                take = min(self.remaining, end - pos)
                self.sink(data[pos : pos + take])
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = _DATA_END
            elif self.state == _DATA_END:
                pos = self._data_end(data, pos)
            else:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    self.line += data[pos:]
                    if len(self.line) > MAX_CHUNK_LINE:
                        add_problem(self.problems, "chunk_line_too_long")
                        self.broken = True
                    return end
                line = bytes(self.line) + data[pos:nl] if self.line else data[pos:nl]
                self.line.clear()
                pos = nl + 1
                if self.state == _SIZE:
                    self._size(line)
                elif not line.strip(b"\r"):
                    self.done = True  # the empty line after the trailer fields
        return pos

    def _data_end(self, data: bytes, pos: int) -> int:
        """The CRLF after a chunk's data; a bare LF is fine, anything else is read as the next
        size line (lenient, with a problem)."""
        if self.line:  # a CR seen at the end of the previous piece
            self.line.clear()
            self.state = _SIZE
            return pos + 1 if data[pos] == 0x0A else pos
        c = data[pos]
        if c == 0x0A:
            self.state = _SIZE
            return pos + 1
        if c == 0x0D:
            if pos + 1 == len(data):
                self.line += b"\r"
                return pos + 1
            self.state = _SIZE
            return pos + 2 if data[pos + 1] == 0x0A else pos + 1
        add_problem(self.problems, "chunk_missing_crlf")
        self.state = _SIZE
        return pos

    def _size(self, line: bytes) -> None:
        digits = line.split(b";", 1)[0].strip(b" \t\r")
        if not digits and not line.strip():
            add_problem(self.problems, "chunk_empty_line")
            return  # an empty line between chunks: skip it
        if digits != line.split(b";", 1)[0].rstrip(b"\r"):
            add_problem(self.problems, "chunk_size_whitespace")
        m = _HEX.fullmatch(digits)
        if m is None or (len(digits) == 16 and digits[0] in b"89abcdefABCDEF"):
            # Not hex, or beyond 2^63: a server in C would overflow, we cannot follow it.
            add_problem(self.problems, "chunk_size_invalid")
            self.broken = True
            return
        self.remaining = int(digits, 16)
        self.state = _DATA if self.remaining else _TRAILER

    def gap(self, size: int) -> bool:
        if self.state == _DATA and size <= self.remaining:
            self.remaining -= size
            if not self.remaining:
                self.state = _DATA_END
            return True
        return False

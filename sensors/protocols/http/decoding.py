"""Content codings (RFC 9110 section 8.4.1): gzip, deflate and br undone in pieces, within a
budget of decompressed bytes (a gzip bomb stops there, with a problem).

zlib and brotli do the work. Like browsers, "deflate" is read as zlib-wrapped and, when that fails
at the start, as raw deflate (servers send both; Zeek's missing-zlib-header trace); "x-gzip" is
gzip; a gzip body of several members (RFC 1952 section 2.2) is read to the end, and bytes after
the last member are ignored, as browsers ignore them.
"""

from __future__ import annotations

import zlib

import brotli

from sensors.protocols.http.message import add_problem

#: Codings undone at most; more layers than this are not decoded (with a problem).
MAX_LAYERS = 4
#: Input kept until a coding's first output, to pass the body on as sent if it is not encoded.
MAX_UNDECODED = 64 * 1024


class _Layer:
    full = False  # the output limit was reached with input left

    def decode(self, data: bytes, limit: int) -> bytes:
        raise NotImplementedError


class _Zlib(_Layer):
    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.wbits = 31 if coding == "gzip" else 15
        self.obj: zlib._Decompress | None = zlib.decompressobj(self.wbits)
        self.started = False  # output produced: a raw-deflate retry is no longer possible
        self.head = b""  # the input before any output, for that retry
        self.carry = b""  # the first byte of a next gzip member
        self.ended = False

    def decode(self, data: bytes, limit: int) -> bytes:
        out = b""
        data, self.carry = self.carry + data, b""
        while data and not self.ended:
            if self.obj is None:  # between gzip members: another one, or the end
                if data.startswith(b"\x1f\x8b"):
                    self.obj = zlib.decompressobj(self.wbits)
                elif data == b"\x1f":
                    self.carry = data
                    break
                else:
                    self.ended = True
                    break
            if len(out) >= limit:
                self.full = True
                break
            try:
                piece = self.obj.decompress(data, limit - len(out))
            except zlib.error:
                if self.coding == "deflate" and not self.started and self.wbits == 15:
                    self.wbits = -15  # no zlib header: raw deflate, as browsers accept
                    self.obj = zlib.decompressobj(-15)
                    data, self.head = self.head + data, b""
                    continue
                raise
            out += piece
            if out:
                self.started = True
            elif len(self.head) < 1024:
                self.head += data
            data = self.obj.unconsumed_tail
            if self.obj.eof:
                data = self.obj.unused_data
                if self.coding == "gzip":
                    self.obj = None
                else:
                    self.ended = True
        return out


class _Brotli(_Layer):
    def __init__(self) -> None:
        self.obj = brotli.Decompressor()

    def decode(self, data: bytes, limit: int) -> bytes:
        if limit <= 0:
            self.full = bool(data)
            return b""
        out: bytes = self.obj.process(data, output_buffer_limit=limit)
        while not self.obj.can_accept_more_data():
            if len(out) >= limit:
                self.full = True
                break
            out += self.obj.process(b"", output_buffer_limit=limit - len(out))
        if len(out) > limit:  # the limit stops the buffer's growth, not at the byte
            self.full = True
            out = out[:limit]
        return out


def _layer(coding: str) -> _Layer | None:
    if coding in ("gzip", "x-gzip"):
        return _Zlib("gzip")
    if coding == "deflate":
        return _Zlib("deflate")
    if coding == "br":
        return _Brotli()
    return None


class ContentDecoder:
    """Undoes the content codings of one body (``codings`` in the order they were applied).

    When a coding fails before any output the body is passed on as sent (servers mislabel
    bodies, and the bytes are then what a client keeps); when it fails later, or the budget is
    reached, the rest is dropped and ``stopped`` is set.
    """

    def __init__(self, codings: list[str], budget: int, problems: list[str]) -> None:
        self.problems = problems
        self.budget = budget
        self.out = 0
        self.stopped = False
        self.layers: list[tuple[str, _Layer]] = []
        self.raw = bytearray()  # the input until the first output, while a fallback is possible
        self.whole = True  # ``raw`` holds all of it
        self.fallback = False
        if not codings:
            return
        names = [c for c in codings if c not in ("identity", "")]
        if len(names) > MAX_LAYERS:
            add_problem(problems, "too_many_content_codings")
            return
        for name in reversed(names):
            layer = _layer(name)
            if layer is None:
                add_problem(problems, "unsupported_content_coding")
                self.layers = []
                return
            self.layers.append((name, layer))

    def decode(self, data: bytes) -> bytes:
        if self.stopped:
            return b""
        if self.fallback or not self.layers:
            return self._bounded(data)
        if not self.out:
            if len(self.raw) < MAX_UNDECODED:
                self.raw += data
            else:
                self.whole = False
        try:
            for _, layer in self.layers:
                data = layer.decode(data, self.budget - self.out)
        except (zlib.error, brotli.error):
            return self._failed()
        self.out += len(data)
        if self.out:
            self.raw = bytearray()
        if any(layer.full for _, layer in self.layers):
            add_problem(self.problems, "decompressed_size_exceeded")
            self.stopped = True
        return data

    def _failed(self) -> bytes:
        names = "_".join(n for n, _ in self.layers)
        add_problem(self.problems, f"{names}_decoding_error")
        if self.out == 0 and self.whole:
            self.fallback = True
            raw, self.raw = bytes(self.raw), bytearray()
            return self._bounded(raw)
        self.stopped = True
        return b""

    def _bounded(self, data: bytes) -> bytes:
        room = self.budget - self.out
        if len(data) > room:
            add_problem(self.problems, "body_size_exceeded")
            self.stopped = True
            data = data[:room]
        self.out += len(data)
        return data

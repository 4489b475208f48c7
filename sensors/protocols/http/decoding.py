"""Content codings (RFC 9110 section 8.4.1): gzip, deflate and br undone in pieces, within a
budget of decompressed bytes (a gzip bomb stops there, with a problem).

zlib and brotli do the work. Browsers are lenient here, and evasions (noxxi's HTTP evader) live
in the gap between what a browser decodes and what an IDS does, so each coding is undone the way
the most lenient browser would: gzip and deflate both accept a gzip header, a zlib header or raw
deflate (whatever the label says); names that merely contain gzip or deflate ("x-gzip",
"x-deflate") are read as such; a gzip body of several members is read to the end and bytes after
the last one ignored; a layer that does not decode from its first byte is taken as not applied
(a body labelled twice but compressed once). Deviations are named in ``problems``.
"""

from __future__ import annotations

import zlib

import brotli

from sensors.protocols.http.message import add_problem

#: Codings undone at most; more layers than this are not decoded (with a problem).
MAX_LAYERS = 4
#: Input kept until a layer's first output, to pass it on as sent if it does not decode.
MAX_UNDECODED = 64 * 1024
_AUTO, _RAW = 47, -15  # zlib window bits: gzip or zlib header (detected), or raw deflate


class _Layer:
    """One coding undone; until its first output it may turn out not to apply (then its input
    passes through unchanged, with a problem)."""

    name = ""
    full = False  # the output limit was reached with input left

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.started = False
        self.through = False
        self.held = bytearray()  # the input before the first output
        self.whole = True  # ``held`` has all of it

    def decode(self, data: bytes, limit: int) -> bytes:
        if self.through:
            return data
        if not self.started:
            if len(self.held) < MAX_UNDECODED:
                self.held += data
            else:
                self.whole = False
        try:
            out = self._decode(data, limit)
        except (zlib.error, brotli.error):
            if self.started or not self.whole:
                raise
            add_problem(self.problems, f"{self.name}_not_encoded")
            self.through = True
            out = bytes(self.held)
        if out:
            self.started = True
            self.held = bytearray()
        return out

    def _decode(self, data: bytes, limit: int) -> bytes:
        raise NotImplementedError


class _Zlib(_Layer):
    def __init__(self, name: str, problems: list[str]) -> None:
        super().__init__(problems)
        self.name = name
        self.wbits = _AUTO
        self.obj: zlib._Decompress | None = zlib.decompressobj(_AUTO)
        self.carry = b""  # the first byte of a next gzip member
        self.ended = False

    def _decode(self, data: bytes, limit: int) -> bytes:
        out = b""
        data, self.carry = self.carry + data, b""
        while data and not self.ended:
            if self.obj is None:  # after a gzip member: another one, or the end
                if data.startswith(b"\x1f\x8b"):
                    self.obj = zlib.decompressobj(_AUTO)
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
                if self.started or out or self.wbits == _RAW:
                    raise
                self.wbits = _RAW  # no header at all: raw deflate, as browsers accept
                self.obj = zlib.decompressobj(_RAW)
                data = bytes(self.held)
                continue
            out += piece
            data = self.obj.unconsumed_tail
            if self.obj.eof:
                data = self.obj.unused_data
                self.obj = None
        return out


class _Brotli(_Layer):
    name = "br"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems)
        self.obj = brotli.Decompressor()

    def _decode(self, data: bytes, limit: int) -> bytes:
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


def _layer(coding: str, problems: list[str]) -> _Layer | None:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(coding, problems)
    if coding == "br":
        return _Brotli(problems)
    if "gzip" in coding or "deflate" in coding:
        add_problem(problems, "unusual_content_coding")
        return _Zlib(coding.replace(" ", "_"), problems)
    return None


class ContentDecoder:
    """Undoes the content codings of one body (``codings`` in the order they were applied).

    When a layer fails after its first output, or the budget is reached, the rest is dropped and
    ``stopped`` is set.
    """

    def __init__(self, codings: list[str], budget: int, problems: list[str]) -> None:
        self.problems = problems
        self.budget = budget
        self.out = 0
        self.stopped = False
        self.layers: list[_Layer] = []
        if not codings:
            return
        names = [c for c in codings if c not in ("identity", "")]
        if len(names) > MAX_LAYERS:
            add_problem(problems, "too_many_content_codings")
            return
        for name in reversed(names):
            layer = _layer(name, problems)
            if layer is None:
                add_problem(problems, "unsupported_content_coding")
            else:
                self.layers.append(layer)

    def decode(self, data: bytes) -> bytes:
        if self.stopped:
            return b""
        try:
            for layer in self.layers:
                data = layer.decode(data, self.budget - self.out)
        except (zlib.error, brotli.error):
            add_problem(self.problems, "content_decoding_error")
            self.stopped = True
            return b""
        if len(data) > self.budget - self.out:
            data = data[: self.budget - self.out]
            self.stopped = True
        self.out += len(data)
        if self.stopped or any(layer.full for layer in self.layers):
            add_problem(self.problems, "decompressed_size_exceeded")
            self.stopped = True
        return data

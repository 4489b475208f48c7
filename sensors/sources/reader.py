"""What every capture reader offers, and the chunked byte stream they share."""

from __future__ import annotations

import lzma
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

from cityshield.errors import CaptureError
from sensors.gather import PAD
from sensors.sources.batch import PacketBatch

#: What gzip, bz2 and lzma raise on corrupt or cut-short input (zlib.error and LZMAError are not
#: OSErrors).
DECOMPRESS_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


class CaptureReader(ABC):
    """Reads one capture into batches; problems that do not stop reading go to ``problems``."""

    def __init__(self, stream: BinaryIO, name: str, *, chunk_bytes: int, max_record_bytes: int):
        self._stream = stream
        self.name = name
        self.chunk_bytes = chunk_bytes
        self.max_record_bytes = max_record_bytes
        self.problems: list[str] = []
        self.packets = 0
        self.bytes_read = 0

    @abstractmethod
    def batches(self) -> Iterator[PacketBatch]:
        """Packet batches in capture order; raises ``CaptureError`` on a corrupt capture."""

    def close(self) -> None:
        self._stream.close()

    def _fill(self, leftover: bytes | bytearray | memoryview) -> tuple[bytearray, int]:
        """A new buffer: ``leftover``, then up to ``chunk_bytes`` new bytes, then ``PAD`` spare.

        Returns the buffer and how many of its bytes are valid; no new bytes means end of stream.
        Each batch gets its own buffer (the previous one still backs the previous batch), and the
        bytes are read straight into it, so a packet is copied once from the file to the decoder.
        """
        keep = len(leftover)
        buf = bytearray(keep + self.chunk_bytes + PAD)
        buf[:keep] = leftover
        view = memoryview(buf)
        try:
            got = self._stream.readinto(view[keep : keep + self.chunk_bytes])  # type: ignore[attr-defined]
        except DECOMPRESS_ERRORS as exc:
            raise CaptureError(f"cannot read: {exc}", where=self.name) from exc
        got = got or 0
        self.bytes_read += got
        return buf, keep + got

    def _read(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except DECOMPRESS_ERRORS as exc:
            raise CaptureError(f"cannot read: {exc}", where=self.name) from exc
        self.bytes_read += len(data)
        return data

    def _read_exact(self, size: int, what: str) -> bytes:
        data = self._read(size)
        if len(data) < size:
            raise CaptureError(f"file ends inside the {what}", where=self.name)
        return data

    def _error(
        self, message: str, *, frame: int | None = None, offset: int | None = None
    ) -> CaptureError:
        where = self.name
        if frame is not None:
            where += f", frame {frame}"
        if offset is not None:
            where += f", byte {offset}"
        return CaptureError(message, where=where)


class PrefixedStream:
    """A stream whose first bytes were already read (to sniff the format) and are given back."""

    def __init__(self, prefix: bytes, rest: BinaryIO, *, owner: BinaryIO | None = None) -> None:
        self._prefix = prefix
        self._rest = rest
        # A decompressor does not close the file it reads from: ``owner`` is closed with it.
        self._owner = owner

    def read(self, size: int = -1) -> bytes:
        if not self._prefix:
            return self._rest.read(size)
        if size < 0:
            out, self._prefix = self._prefix + self._rest.read(), b""
            return out
        out, self._prefix = self._prefix[:size], self._prefix[size:]
        if len(out) < size:
            out += self._rest.read(size - len(out))
        return out

    def readinto(self, view: memoryview) -> int:
        if not self._prefix:
            return int(self._rest.readinto(view))  # type: ignore[attr-defined]
        n = min(len(view), len(self._prefix))
        view[:n] = self._prefix[:n]
        self._prefix = self._prefix[n:]
        return n

    def close(self) -> None:
        self._rest.close()
        if self._owner is not None:
            self._owner.close()

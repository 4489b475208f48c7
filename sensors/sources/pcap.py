"""Classic libpcap files: micro- and nanosecond timestamps, either byte order.

Format: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/ . Records are walked in a tight
loop that only reads the captured length (the one field needed to find the next record); all other
header fields are then read for the whole batch at once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from cityshield.errors import CaptureError
from sensors.gather import be32 as _be32
from sensors.gather import le32
from sensors.sources import linktype as lt
from sensors.sources.batch import PacketBatch
from sensors.sources.reader import CaptureReader

MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
HEADER_BYTES = 24
RECORD_HEADER_BYTES = 16


class PcapReader(CaptureReader):
    def __init__(
        self, stream: BinaryIO, name: str, *, chunk_bytes: int, max_record_bytes: int
    ) -> None:
        super().__init__(stream, name, chunk_bytes=chunk_bytes, max_record_bytes=max_record_bytes)
        header = self._read_exact(HEADER_BYTES, "pcap file header")
        self._endian, self.nanoseconds = MAGIC[header[:4]]
        _, _, _, _, snaplen, raw_linktype = struct.unpack(self._endian + "HHiIII", header[4:])
        # The upper bits carry the FCS length and reserved flags; the link type is the low 16 bits.
        self.linktype = raw_linktype & 0xFFFF
        if self.linktype not in lt.SUPPORTED:
            raise CaptureError(f"unsupported link type {lt.describe(self.linktype)}", where=name)
        if max_record_bytes < snaplen <= 16 * 1024 * 1024:
            self.max_record_bytes = snaplen
        self._caplen_at = struct.Struct(self._endian + "I").unpack_from

    def batches(self) -> Iterator[PacketBatch]:
        leftover: bytes | memoryview = b""
        frame = 1
        base = HEADER_BYTES
        while True:
            buf, valid = self._fill(leftover)
            if valid == len(leftover):
                break
            offsets, pos, error = self._walk(buf, valid, frame, base)
            if offsets:
                batch = self._batch(buf, offsets, frame)
                frame += len(batch)
                self.packets += len(batch)
                yield batch
            if error is not None:
                raise error
            leftover = memoryview(buf)[pos:valid]
            base += pos
        if leftover:
            self.problems.append(
                f"capture ends inside the record of frame {frame} ({len(leftover)} bytes ignored)"
            )

    def _walk(
        self, buf: bytearray, n: int, first_frame: int, base: int
    ) -> tuple[list[int], int, CaptureError | None]:
        """Offsets of the whole records in ``buf[:n]``, where the walk stopped, any corruption."""
        caplen_at = self._caplen_at
        stop = n - RECORD_HEADER_BYTES
        pos = 0
        offsets: list[int] = []
        append = offsets.append
        # The hot loop of the whole sensor: keep it to one unpack and two comparisons per record.
        while pos <= stop:
            end = pos + RECORD_HEADER_BYTES + caplen_at(buf, pos + 8)[0]
            if end > n:
                break
            append(pos)
            pos = end
        error = None
        limit = self.max_record_bytes
        if pos <= stop and caplen_at(buf, pos + 8)[0] > limit:
            offsets.append(pos)  # checked with the others below
        if offsets:
            arr = np.frombuffer(buf, dtype=np.uint8)
            lens = (le32 if self._endian == "<" else _be32)(
                arr, np.asarray(offsets, dtype=np.int64) + 8
            )
            bad = np.flatnonzero(lens > limit)
            if len(bad):
                i = int(bad[0])
                error = self._error(
                    f"corrupt record: {int(lens[i])} captured bytes claimed, more than the "
                    f"{limit}-byte limit",
                    frame=first_frame + i,
                    offset=base + offsets[i],
                )
                pos = offsets[i]
                del offsets[i:]
        return offsets, pos, error

    def _batch(self, buf: bytearray, offsets: list[int], first_frame: int) -> PacketBatch:
        data = np.frombuffer(buf, dtype=np.uint8)
        off = np.asarray(offsets, dtype=np.int64)
        read32 = le32 if self._endian == "<" else _be32
        sec = read32(data, off).astype(np.int64)
        frac = read32(data, off + 4).astype(np.int64)
        caplen = read32(data, off + 8).astype(np.int64)
        wirelen = read32(data, off + 12).astype(np.int64)
        ts_ns = sec * 1_000_000_000 + (frac if self.nanoseconds else frac * 1000)
        return PacketBatch(
            data=data,
            offset=off + RECORD_HEADER_BYTES,
            caplen=caplen,
            wirelen=wirelen,
            ts_ns=ts_ns,
            linktype=np.full(len(off), self.linktype, dtype=np.int32),
            first_frame=first_frame,
            capture=self.name,
        )

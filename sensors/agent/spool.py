"""``DiskSpool``: outgoing batches on disk until the central service has stored them.

Append-only segment files ``<first seq>.spool`` of records ``magic, crc32, seq, length,
payload``; the sequence number of the last batch the central service acknowledged is in
``acked`` (replaced atomically). A crash leaves at most a torn record at the end of the newest
segment: its CRC or length fails on the next start and it is cut off. Batches are replayed in
order from the oldest unacknowledged one; a segment is deleted when all its batches are
acknowledged. Bounded by ``max_bytes``: a batch that does not fit is refused and counted (the
caller reports it), never written past the bound.

Written by hand because the job is small and exact (ordered, fsync policy, size bound, one
acknowledgement pointer) and the queue libraries on PyPI (persist-queue, diskcache) either keep
SQLite files whose size is not bounded by us or do not keep strict order with acknowledgement.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

MAGIC = b"CSSP"
_HEADER = struct.Struct("<4sIQI")  # magic, crc32 of (seq, length, payload), seq, payload length
_COVERED = struct.Struct("<QI")
#: A record larger than this is corruption, not a batch (ingest refuses far smaller bodies).
MAX_RECORD = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    seq: int
    segment: Path
    offset: int
    length: int


class DiskSpool:
    def __init__(
        self,
        folder: str | Path,
        *,
        max_bytes: int,
        segment_bytes: int = 16 * 1024 * 1024,
        fsync: Literal["always", "segment", "never"] = "always",
    ) -> None:
        self.dir = Path(folder)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        #: Batches refused because the spool was full.
        self.refused = 0
        self.epoch = self._epoch()
        self.acked = self._read_acked()
        self._entries: list[SpoolEntry] = []
        self._sizes: dict[Path, int] = {}
        for path in sorted(self.dir.glob("*.spool")):
            self._load(path)
        self.next_seq = max([self.acked, *(e.seq for e in self._entries)]) + 1
        self._file: BinaryIO | None = None
        self._segment: Path | None = None
        self._drop_acked_segments()

    # ------------------------------------------------------------------ writing
    def append(self, make: Callable[[int], bytes]) -> int | None:
        """Spool one batch, made by ``make(seq)`` (a batch names its own sequence number); its
        sequence number, or None when the spool is full."""
        with self._lock:
            seq = self.next_seq
            payload = make(seq)
            record_size = _HEADER.size + len(payload)
            if self.size + record_size > self.max_bytes:
                self.refused += 1
                return None
            f = self._writable(record_size)
            assert self._segment is not None
            offset = self._sizes[self._segment]
            try:
                f.write(_HEADER.pack(MAGIC, _crc(seq, payload), seq, len(payload)))
                f.write(payload)
                f.flush()
                if self.fsync == "always":
                    os.fsync(f.fileno())
            except OSError:
                # A full disk: cut the torn record off, so the next one starts where the index
                # says (then the caller reports the failure).
                self._close_segment_quietly(offset)
                raise
            self._sizes[self._segment] += record_size
            self._entries.append(
                SpoolEntry(seq, self._segment, offset + _HEADER.size, len(payload))
            )
            self.next_seq += 1
            return seq

    def _writable(self, record_size: int) -> BinaryIO:
        if (
            self._file is None
            or self._segment is None
            or self._sizes[self._segment] + record_size > self.segment_bytes
        ):
            self._close_segment()
            self._segment = self.dir / f"{self.next_seq:016d}.spool"
            self._file = self._segment.open("ab")
            self._sizes[self._segment] = self._segment.stat().st_size
        return self._file

    def _close_segment(self) -> None:
        if self._file is not None:
            if self.fsync != "never":
                os.fsync(self._file.fileno())
            self._file.close()
        self._file = None

    def _close_segment_quietly(self, size: int) -> None:
        segment, f = self._segment, self._file
        self._file = None
        self._segment = None
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
        if segment is not None:
            with contextlib.suppress(OSError), segment.open("r+b") as g:
                g.truncate(size)  # if this fails too, the next start cuts it off by its CRC

    def close(self) -> None:
        with self._lock:
            self._close_segment()
            self._segment = None

    # ------------------------------------------------------------------ reading
    def pending(self) -> list[SpoolEntry]:
        """Unacknowledged batches, oldest first."""
        with self._lock:
            return [e for e in self._entries if e.seq > self.acked]

    def read(self, entry: SpoolEntry) -> bytes:
        with entry.segment.open("rb") as f:
            f.seek(entry.offset)
            return f.read(entry.length)

    def ack(self, seq: int) -> None:
        """The central service stored every batch up to ``seq``."""
        with self._lock:
            if seq <= self.acked:
                return
            self.acked = seq
            tmp = self.dir / "acked.tmp"
            tmp.write_text(str(seq))
            if self.fsync != "never":
                with tmp.open("rb") as f:
                    os.fsync(f.fileno())
            tmp.replace(self.dir / "acked")
            self._entries = [e for e in self._entries if e.seq > seq]
            self._drop_acked_segments()

    @property
    def size(self) -> int:
        """Bytes on disk in segments that still hold unacknowledged batches."""
        return sum(self._sizes.values())

    def batch_id(self, name: str, seq: int) -> str:
        """Unique per sensor and spool: a spool made anew (disk replaced) gets another epoch, so
        its sequence numbers never reuse an id the central service stored with other content."""
        return f"{name}/{self.epoch}/{seq:012d}"

    # ------------------------------------------------------------------ start-up
    def _epoch(self) -> str:
        path = self.dir / "epoch"
        try:
            text = path.read_text().strip()
            if text.isalnum() and len(text) <= 32:
                return text
        except FileNotFoundError:
            pass
        epoch = uuid.uuid4().hex[:12]
        path.write_text(epoch)
        return epoch

    def _read_acked(self) -> int:
        try:
            return int((self.dir / "acked").read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _load(self, path: Path) -> None:
        """Index a segment's records; cut a torn or corrupt tail off (a crash mid-write)."""
        good = 0
        with path.open("rb") as f:
            while True:
                head = f.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    break
                magic, crc, seq, length = _HEADER.unpack(head)
                if magic != MAGIC or length > MAX_RECORD:
                    break
                payload = f.read(length)
                if len(payload) < length or _crc(seq, payload) != crc:
                    break
                self._entries.append(SpoolEntry(seq, path, good + _HEADER.size, length))
                good += _HEADER.size + length
        if good < path.stat().st_size:
            with path.open("r+b") as f:
                f.truncate(good)
        self._sizes[path] = good

    def _drop_acked_segments(self) -> None:
        live = {e.segment for e in self._entries if e.seq > self.acked}
        for path in list(self._sizes):
            if path not in live and path != self._segment:
                path.unlink(missing_ok=True)
                del self._sizes[path]


def _crc(seq: int, payload: bytes) -> int:
    """The record's checksum covers its sequence number and length too: a flipped bit there
    must not make a record that replays under another number."""
    return zlib.crc32(payload, zlib.crc32(_COVERED.pack(seq, len(payload))))

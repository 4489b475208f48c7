"""A bounded ring of raw capture chunks between the capture thread and the engine.

A chunk is what one libpcap read returned: the packets' bytes back to back and their 16-byte
records ``(sec, usec, offset, caplen)``. Bounded in bytes: when the engine falls behind, a new
chunk that does not fit is dropped whole and its packets counted, so a burst can never take the
sensor's memory (the kernel buffer in front of us absorbs short bursts).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

META_SIZE = 16  # four native uint32 per packet: sec, usec, offset, caplen


@dataclass(frozen=True, slots=True)
class Chunk:
    data: bytes
    meta: bytes

    @property
    def packets(self) -> int:
        return len(self.meta) // META_SIZE

    @property
    def size(self) -> int:
        return len(self.data) + len(self.meta)


class ChunkRing:
    """Single producer, single consumer; ``put`` never blocks."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: deque[Chunk] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        #: Packets and chunks dropped because the ring was full.
        self.dropped_packets = 0
        self.dropped_chunks = 0
        self.peak_bytes = 0

    @property
    def bytes(self) -> int:
        return self._bytes

    def put(self, chunk: Chunk) -> bool:
        with self._cond:
            if self._bytes + chunk.size > self.max_bytes:
                self.dropped_packets += chunk.packets
                self.dropped_chunks += 1
                return False
            self._chunks.append(chunk)
            self._bytes += chunk.size
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._cond.notify()
            return True

    def close(self) -> None:
        """No more chunks will come: ``take`` returns what is left, then empty lists."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed and not self._chunks

    def take(self, max_packets: int, wait: float) -> list[Chunk]:
        """Chunks with up to ``max_packets`` packets (at least one chunk when any is there);
        waits up to ``wait`` seconds for the first one."""
        with self._cond:
            if not self._chunks and not self._closed:
                self._cond.wait(wait)
            out: list[Chunk] = []
            count = 0
            while self._chunks and (not out or count + self._chunks[0].packets <= max_packets):
                chunk = self._chunks.popleft()
                self._bytes -= chunk.size
                count += chunk.packets
                out.append(chunk)
            return out

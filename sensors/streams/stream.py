"""One direction of a TCP connection, reassembled in sequence order (sans-io).

Policy for overlapping data: the bytes that arrived first win (Linux and the BSDs keep the data
already queued; Suricata calls this the "first" policy). Overlaps whose bytes differ from what was
kept are counted as conflicts: that is what evasion attempts look like (Ptacek and Newsham, 1998).
A hole that does not fill in time (too many bytes or segments waiting behind it, or the stream
ends) is skipped and recorded as a gap.

Out-of-order segments are kept in a sorted list of offsets (``bisect``), so that finding the
neighbours of a new segment and the next one to deliver costs O(log n), not a scan: many tiny
out-of-order segments are a known way to make an IDS burn CPU.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from dataclasses import dataclass, field

SEQ_MOD = 1 << 32
HALF = 1 << 31
RECENT = 8  # delivered segments kept to compare retransmissions with


@dataclass(slots=True)
class Delivery:
    """Bytes made available in stream order, after ``gap`` bytes that were never seen."""

    gap: int
    data: bytes


@dataclass(slots=True)
class Stream:
    depth: int
    max_pending: int
    max_pending_segments: int
    base: int | None = None  # sequence number of stream offset 0
    next: int = 0  # next offset expected
    offsets: list[int] = field(default_factory=list)  # sorted offsets of pending segments
    pending: dict[int, bytes] = field(default_factory=dict)
    pending_bytes: int = 0
    fin_at: int | None = None
    done: bool = False  # FIN reached, RST, or depth reached
    truncated: bool = False  # depth reached
    gaps: int = 0
    gap_bytes: int = 0
    conflicts: int = 0
    retransmitted: int = 0
    #: The last segments delivered, as (offset, bytes): retransmissions are compared with them
    #: (references, not copies, so that keeping them costs nothing per segment).
    recent: deque[tuple[int, bytes]] = field(default_factory=lambda: deque(maxlen=RECENT))
    gap_due: int = 0  # a skipped hole, reported with the next delivery

    def syn(self, seq: int) -> None:
        if self.base is None:
            self.base = (seq + 1) % SEQ_MOD

    def add(self, seq: int, data: bytes, fin: bool, out: list[Delivery]) -> int:
        """Add a segment; bytes it makes available in order are appended to ``out``.

        Returns the change in bytes held pending, for the global memory budget.
        """
        if self.done:
            return 0
        if self.base is None:
            self.base = seq  # joined midstream: the first segment seen starts the stream
        rel = (seq - self.base) % SEQ_MOD
        if rel >= HALF:  # before the start of the stream: an old retransmission
            return 0
        end = rel + len(data)
        if fin and self.fin_at is None:
            self.fin_at = end
        held = self.pending_bytes
        if data:
            if rel == self.next:
                self._deliver(data, out)
                if self.offsets:
                    self._drain(out)
            elif end <= self.next:
                self.retransmitted += 1
                self._compare(rel, data)
            elif rel < self.next:
                self._compare(rel, data[: self.next - rel])
                self._deliver(data[self.next - rel :], out)
                self._drain(out)
            else:
                self._hold(rel, data, out)
        if self.fin_at is not None and self.next >= self.fin_at:
            self.done = True
        return self.pending_bytes - held

    def close(self, out: list[Delivery]) -> int:
        """The connection ended: deliver what waits behind holes (after gaps); bytes freed."""
        held = self.pending_bytes
        while self.offsets and not self.done:
            self._skip_hole()
            self._drain(out)
        self.done = True
        self.offsets.clear()
        self.pending.clear()
        self.pending_bytes = 0
        return held

    # -- internals --------------------------------------------------------------------------------
    def _deliver(self, data: bytes, out: list[Delivery]) -> None:
        room = self.depth - self.next
        if len(data) > room:
            data = data[: max(room, 0)]
            self.truncated = self.done = True
        gap, self.gap_due = self.gap_due, 0
        if data or gap:
            out.append(Delivery(gap, data))
        self.remember(data)
        self.next += len(data)

    def remember(self, data: bytes) -> None:
        """Note ``data`` as delivered at ``next`` (the caller then advances ``next``)."""
        self.recent.append((self.next, data))

    def _compare(self, rel: int, data: bytes) -> None:
        """Bytes already delivered arrived again: a conflict if they differ from what was kept."""
        end = rel + len(data)
        for off, kept in self.recent:
            lo, hi = max(rel, off), min(end, off + len(kept))
            if hi > lo and kept[lo - off : hi - off] != data[lo - rel : hi - rel]:
                self.conflicts += 1
                return

    def _hold(self, rel: int, data: bytes, out: list[Delivery]) -> None:
        """Keep the bytes of an out-of-order segment that no waiting segment holds yet (first
        arrival wins); compare the ones that overlap."""
        end = rel + len(data)
        pieces: list[tuple[int, bytes]] = []
        cur = rel
        i = max(bisect_right(self.offsets, rel) - 1, 0)
        while i < len(self.offsets) and self.offsets[i] < end:
            off = self.offsets[i]
            kept = self.pending[off]
            k_end = off + len(kept)
            if k_end > cur:
                lo, hi = max(off, cur), min(k_end, end)
                if off > cur:
                    pieces.append((cur, data[cur - rel : off - rel]))
                if kept[lo - off : hi - off] != data[lo - rel : hi - rel]:
                    self.conflicts += 1
                cur = max(cur, hi)
            i += 1
        if cur < end:
            pieces.append((cur, data[cur - rel :]))
        if not pieces:
            self.retransmitted += 1
            return
        for start, piece in pieces:
            insort(self.offsets, start)
            self.pending[start] = piece
            self.pending_bytes += len(piece)
        if self.pending_bytes > self.max_pending or len(self.offsets) > self.max_pending_segments:
            # The hole is not filling: give it up and go on from the first waiting segment.
            self._skip_hole()
            self._drain(out)

    def _skip_hole(self) -> None:
        first = self.offsets[0]
        if first > self.next:
            self.gaps += 1
            self.gap_bytes += first - self.next
            self.gap_due += first - self.next
            self.next = first

    def _drain(self, out: list[Delivery]) -> None:
        """Deliver pending segments that now start at or before the next expected offset."""
        while self.offsets and not self.done and self.offsets[0] <= self.next:
            off = self.offsets.pop(0)
            data = self.pending.pop(off)
            self.pending_bytes -= len(data)
            if off + len(data) > self.next:
                self._deliver(data[self.next - off :], out)

"""IP fragment reassembly (IPv4 and IPv6) within named budgets.

Overlap policy: the data that arrived first wins (the "first" policy of Novak and Sturges' target-
based reassembly, which is also what Linux does for IPv6, where RFC 5722 forbids overlaps).
Overlapping fragments are counted; when the overlapping bytes differ (an evasion attempt, or a
broken stack) they are counted as ``fragment_inconsistency``. When a budget is reached, the oldest
incomplete datagram is dropped and counted, so a flood of never-completed fragments cannot lock
out later traffic or grow memory.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice

from pydantic import Field

from cityshield.settings import Section
from sensors.decode import weird as W

MAX_DATAGRAM = 65_535


class FragmentSettings(Section):
    max_bytes: int = Field(16 * 1024 * 1024, ge=65_536, description="bytes held in all datagrams")
    max_datagrams: int = Field(10_000, ge=16, description="incomplete datagrams held at once")
    max_fragments_per_datagram: int = Field(256, ge=2)
    timeout_seconds: float = Field(30.0, gt=0, description="Linux's ipfrag_time default")


FragmentKey = tuple[bool, bytes, bytes, int, int]  # v6, src, dst, identification, protocol


@dataclass(slots=True)
class _Datagram:
    first_ns: int
    header: bytes | None = None
    total: int | None = None
    parts: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0


class FragmentReassembler:
    def __init__(self, settings: FragmentSettings | None = None) -> None:
        self.settings = settings or FragmentSettings()
        self._pending: OrderedDict[FragmentKey, _Datagram] = OrderedDict()
        self._bytes = 0
        self.reassembled = 0

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        key: FragmentKey,
        *,
        ts_ns: int,
        start: int,
        more: bool,
        payload: bytes,
        header: bytes | None,
    ) -> tuple[tuple[bytes, bytes] | None, list[str]]:
        """Add one fragment; returns (header, payload) of the whole datagram once complete, and
        weird names.

        ``header`` is the IP header of the fragment at offset 0 (kept to rebuild the datagram).
        """
        weird: list[str] = []
        end = start + len(payload)
        if end > MAX_DATAGRAM:
            return None, [W.EXCESSIVELY_LARGE_FRAGMENT]
        if more and len(payload) % 8:
            return None, [W.BAD_FRAGMENT]  # only the last fragment may end off an 8-byte boundary
        dgram = self._pending.get(key)
        if dgram is not None and ts_ns - dgram.first_ns > self.settings.timeout_seconds * 1e9:
            # Expired before this fragment came (``expire`` runs only between batches).
            self._drop(key)
            weird.append(W.FRAGMENT_TIMEOUT)
            dgram = None
        if dgram is None:
            weird += self._make_room(len(payload))
            dgram = _Datagram(first_ns=ts_ns)
            self._pending[key] = dgram
        elif len(dgram.parts) >= self.settings.max_fragments_per_datagram:
            self._drop(key)
            return None, [W.FRAGMENT_BUDGET_EXCEEDED]
        else:
            weird += self._make_room(len(payload), keep=key)
        if start == 0 and header is not None and dgram.header is None:
            dgram.header = header
        if not more:
            if dgram.total is not None and dgram.total != end:
                weird.append(W.FRAGMENT_INCONSISTENCY)
            else:
                held_end = max((s + len(p) for s, p in dgram.parts), default=0)
                if held_end > end:  # data already held lies past the end this fragment gives
                    weird.append(W.FRAGMENT_INCONSISTENCY)
                dgram.total = end
        elif dgram.total is not None and end > dgram.total:
            weird.append(W.FRAGMENT_INCONSISTENCY)  # past the end the last fragment gave
        weird += self._insert(dgram, start, payload)
        total = dgram.total
        if total is not None and dgram.header is not None and self._complete(dgram):
            self._drop(key)
            self.reassembled += 1
            # Bytes past the datagram's end (inconsistent fragments) are not part of it.
            inside = b"".join(part for s, part in sorted(dgram.parts) if s < total)
            return (dgram.header, inside[:total]), weird
        return None, weird

    def expire(self, now_ns: int) -> int:
        """Drop datagrams older than the timeout; returns how many."""
        limit = now_ns - int(self.settings.timeout_seconds * 1e9)
        expired = [k for k, d in self._pending.items() if d.first_ns < limit]
        for k in expired:
            self._drop(k)
        return len(expired)

    def _insert(self, dgram: _Datagram, start: int, payload: bytes) -> list[str]:
        """Keep only the bytes not already held (first wins); report overlaps."""
        pieces = [(start, payload)]
        weird: list[str] = []
        for s, data in dgram.parts:
            e = s + len(data)
            nxt: list[tuple[int, bytes]] = []
            for ps, pd in pieces:
                pe = ps + len(pd)
                if pe <= s or ps >= e:
                    nxt.append((ps, pd))
                    continue
                lo, hi = max(ps, s), min(pe, e)
                same = pd[lo - ps : hi - ps] == data[lo - s : hi - s]
                weird.append(W.FRAGMENT_OVERLAP if same else W.FRAGMENT_INCONSISTENCY)
                if ps < s:
                    nxt.append((ps, pd[: s - ps]))
                if pe > e:
                    nxt.append((e, pd[e - ps :]))
            pieces = nxt
        for ps, pd in pieces:
            if pd:
                dgram.parts.append((ps, pd))
                dgram.size += len(pd)
                self._bytes += len(pd)
        return weird

    @staticmethod
    def _complete(dgram: _Datagram) -> bool:
        covered = 0
        total = dgram.total or 0
        for s, data in sorted(dgram.parts):
            if covered >= total:
                break  # what lies past the end does not matter
            if s > covered:
                return False
            covered = max(covered, s + len(data))
        return covered >= total

    def _make_room(self, size: int, keep: FragmentKey | None = None) -> list[str]:
        weird: list[str] = []
        s = self.settings
        while self._pending and (
            self._bytes + size > s.max_bytes
            or len(self._pending) >= s.max_datagrams + (keep is not None)
        ):
            oldest = next(iter(self._pending))
            if oldest == keep:
                # The datagram being added to stays; the next oldest goes instead, so the byte
                # budget holds even when the oldest datagram is the one growing.
                oldest = next(islice(self._pending, 1, None), keep)
                if oldest == keep:
                    break
            self._drop(oldest)
            weird.append(W.FRAGMENT_BUDGET_EXCEEDED)
        return weird

    def _drop(self, key: FragmentKey) -> None:
        dgram = self._pending.pop(key)
        self._bytes -= dgram.size

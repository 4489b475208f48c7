"""What the heuristics share: bounded per-key state, evidence collection, CIDR allow-lists."""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from alerts.evidence import MAX_EVIDENCE_FRAMES, MAX_EVIDENCE_IDS, Evidence

K = TypeVar("K")
V = TypeVar("V")


def ns_time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


class BoundedState(Generic[K, V]):
    """Per-key state with a size bound: the least recently touched key goes first (counted).

    An attacker who sprays spoofed sources must not grow a detector's memory without limit.
    """

    def __init__(self, limit: int, make: Callable[[], V]) -> None:
        self.limit = limit
        self._make = make
        self._items: OrderedDict[K, V] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V:
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = self._make()
            if len(self._items) > self.limit:
                self._items.popitem(last=False)
                self.evicted += 1
        else:
            self._items.move_to_end(key)
        return item

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def items(self) -> Iterable[tuple[K, V]]:
        return self._items.items()


@dataclass(slots=True)
class Tally:
    """Occurrences towards one alert: how many, when, and bounded references to the flows."""

    count: int = 0
    reported: int = 0
    first_ns: int = 0
    last_ns: int = 0
    flow_ids: list[str] = field(default_factory=list)
    community_ids: list[str] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    capture: str | None = None
    truncated: bool = False

    def add(
        self, start_ns: int, end_ns: int, flow_id: str, cid: str, frame: int, capture: str
    ) -> None:
        if self.count == 0:
            self.first_ns, self.capture = start_ns, capture
        self.count += 1
        self.first_ns = min(self.first_ns, start_ns)
        self.last_ns = max(self.last_ns, end_ns)
        if len(self.flow_ids) < MAX_EVIDENCE_IDS:
            self.flow_ids.append(flow_id)
            self.community_ids.append(cid)
        else:
            self.truncated = True
        if capture == self.capture and len(self.frames) < MAX_EVIDENCE_FRAMES:
            self.frames.append(frame)

    def take_new(self) -> int:
        """Occurrences not reported yet (and mark them reported)."""
        new, self.reported = self.count - self.reported, self.count
        return new

    def evidence(self) -> Evidence:
        return Evidence.bounded(
            flow_ids=self.flow_ids,
            community_ids=self.community_ids,
            capture_file=self.capture,
            frames=self.frames,
        ).model_copy(update={"truncated": self.truncated})


class Allowlist:
    """Addresses a heuristic ignores (the city's own vulnerability scanners, monitoring hosts)."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._cache: dict[str, bool] = {}

    def __contains__(self, ip: str) -> bool:
        if not self._nets:
            return False
        hit = self._cache.get(ip)
        if hit is None:
            addr = ipaddress.ip_address(ip)
            hit = any(addr in net for net in self._nets)
            if len(self._cache) < 100_000:
                self._cache[ip] = hit
        return hit


def check_cidrs(values: list[str]) -> list[str]:
    for v in values:
        ipaddress.ip_network(v, strict=False)
    return values

"""Column storage for flows: an array per field, indexed by slot (per-direction ones: [slot, 2]).

Direction 0 is the originator, 1 the responder. Times are nanoseconds since the epoch; ``NEVER``
marks an event not (yet) seen, ``UNSET`` a timestamp not yet known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

NEVER = np.iinfo(np.int64).max
UNSET = np.iinfo(np.int64).min


@dataclass(frozen=True, slots=True)
class Field:
    dtype: type[np.generic]
    per_dir: bool
    init: int | float | bool


FIELDS: dict[str, Field] = {
    # identity (the canonical key, and which endpoint originated)
    "vlan": Field(np.int64, False, 0),
    "a_hi": Field(np.uint64, False, 0),
    "a_lo": Field(np.uint64, False, 0),
    "b_hi": Field(np.uint64, False, 0),
    "b_lo": Field(np.uint64, False, 0),
    "pa": Field(np.uint16, False, 0),
    "pb": Field(np.uint16, False, 0),
    "proto": Field(np.uint8, False, 0),
    "v6": Field(np.bool_, False, False),
    "orig_is_a": Field(np.bool_, False, True),
    #: A number no other flow of this table gets: content inspection keys its streams by it.
    "serial": Field(np.int64, False, 0),
    # life
    "start_ns": Field(np.int64, False, 0),
    "last_ns": Field(np.int64, False, 0),
    "first_frame": Field(np.int64, False, 0),
    "last_frame": Field(np.int64, False, 0),
    "capture": Field(np.int32, False, 0),
    "depth": Field(np.int64, False, 0),
    # per direction: volume
    "pkts": Field(np.int64, True, 0),
    "ip_bytes": Field(np.int64, True, 0),
    "payload": Field(np.int64, True, 0),
    "flags": Field(np.uint8, True, 0),
    "first_flags": Field(np.uint8, True, 0),
    # per direction: TCP events (counts, and the time each was first seen, for the history)
    "n_syn": Field(np.int64, True, 0),
    "n_synack": Field(np.int64, True, 0),
    "n_fin": Field(np.int64, True, 0),
    "n_rst": Field(np.int64, True, 0),
    "t_syn": Field(np.int64, True, NEVER),
    "t_synack": Field(np.int64, True, NEVER),
    "t_ack": Field(np.int64, True, NEVER),
    "t_data": Field(np.int64, True, NEVER),
    "t_fin": Field(np.int64, True, NEVER),
    "t_rst": Field(np.int64, True, NEVER),
    # per direction: packet size (IP length) and inter-arrival statistics
    "size_min": Field(np.int64, True, NEVER),
    "size_max": Field(np.int64, True, -1),
    "size_sum": Field(np.int64, True, 0),
    "size_sq": Field(np.float64, True, 0.0),
    "iat_n": Field(np.int64, True, 0),
    "iat_min": Field(np.int64, True, NEVER),
    "iat_max": Field(np.int64, True, -1),
    "iat_sum": Field(np.int64, True, 0),
    "iat_sq": Field(np.float64, True, 0.0),
    "last_ts": Field(np.int64, True, UNSET),
}

Columns = dict[str, npt.NDArray[Any]]


def empty_columns(n: int) -> Columns:
    out: Columns = {}
    for name, f in FIELDS.items():
        shape = (n, 2) if f.per_dir else (n,)
        out[name] = np.full(shape, f.init, dtype=f.dtype)
    return out


class FlowArrays:
    """Growable column storage with a free list of slots."""

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.cols = empty_columns(capacity)
        self.live = np.zeros(capacity, dtype=bool)
        self._free = np.arange(capacity - 1, -1, -1, dtype=np.int64)  # a stack; top at the end
        self._nfree = capacity

    @property
    def count(self) -> int:
        return self.capacity - self._nfree

    def allocate(self, k: int) -> npt.NDArray[np.int64]:
        if k > self._nfree:
            self._grow(max(self.capacity * 2, self.count + k))
        slots = self._free[self._nfree - k : self._nfree][::-1].copy()
        self._nfree -= k
        self.reset(slots)
        self.live[slots] = True
        return slots

    def release(self, slots: npt.NDArray[np.int64]) -> None:
        self.live[slots] = False
        self._free[self._nfree : self._nfree + len(slots)] = slots
        self._nfree += len(slots)

    def reset(self, slots: npt.NDArray[np.int64]) -> None:
        for name, f in FIELDS.items():
            self.cols[name][slots] = f.init

    def gather(self, slots: npt.NDArray[np.int64]) -> Columns:
        return {name: arr[slots] for name, arr in self.cols.items()}

    def _grow(self, capacity: int) -> None:
        old = self.capacity
        grown = empty_columns(capacity)
        for name, arr in self.cols.items():
            grown[name][:old] = arr
        self.cols = grown
        live = np.zeros(capacity, dtype=bool)
        live[:old] = self.live
        self.live = live
        free = np.empty(capacity, dtype=np.int64)
        free[: self._nfree] = self._free[: self._nfree]
        added = np.arange(capacity - 1, old - 1, -1, dtype=np.int64)
        # New slots go under the existing free ones so that low slots are reused first.
        free[len(added) : len(added) + self._nfree] = free[: self._nfree].copy()
        free[: len(added)] = added
        self._free = free
        self._nfree += len(added)
        self.capacity = capacity

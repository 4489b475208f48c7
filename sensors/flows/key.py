"""Flow keys: the canonical (direction-free) form of a packet's 5-tuple plus VLAN, and a hash.

Packets are grouped by a 64-bit hash of the canonical key, checked for collisions against the full
key in every batch; the flow table's index maps the *exact* key bytes to a slot. The hash is seeded
per process so that nobody can craft traffic whose keys collide on purpose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_S31 = np.uint64(31)
_S29 = np.uint64(29)

KEY_DTYPE = np.dtype(
    [("vlan", "<i8"), ("a_hi", "<u8"), ("a_lo", "<u8"), ("b_hi", "<u8"), ("b_lo", "<u8"),
     ("pa", "<u2"), ("pb", "<u2"), ("proto", "u1"), ("v6", "?")]
)  # fmt: skip
KEY_FIELDS = KEY_DTYPE.names or ()


@dataclass(slots=True)
class CanonicalKeys:
    """Endpoints ordered so that both directions of a conversation give the same key."""

    vlan: I64
    a_hi: U64
    a_lo: U64
    b_hi: U64
    b_lo: U64
    pa: npt.NDArray[np.uint16]
    pb: npt.NDArray[np.uint16]
    proto: npt.NDArray[np.uint8]
    v6: npt.NDArray[np.bool_]
    src_is_a: npt.NDArray[np.bool_]

    def take(self, idx: I64) -> CanonicalKeys:
        return CanonicalKeys(*(getattr(self, f)[idx] for f in CanonicalKeys.__slots__))

    def columns(self) -> list[npt.NDArray[np.generic]]:
        return [getattr(self, f) for f in KEY_FIELDS]


def canonical(cols: dict[str, npt.NDArray[Any]]) -> CanonicalKeys:
    s_hi, s_lo, d_hi, d_lo = cols["src_hi"], cols["src_lo"], cols["dst_hi"], cols["dst_lo"]
    sp, dp = cols["sport"], cols["dport"]
    src_first = (s_hi < d_hi) | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (sp <= dp))))
    return CanonicalKeys(
        vlan=cols["vlan"].astype(np.int64),
        a_hi=np.where(src_first, s_hi, d_hi),
        a_lo=np.where(src_first, s_lo, d_lo),
        b_hi=np.where(src_first, d_hi, s_hi),
        b_lo=np.where(src_first, d_lo, s_lo),
        pa=np.where(src_first, sp, dp),
        pb=np.where(src_first, dp, sp),
        proto=cols["proto"].astype(np.uint8),
        v6=cols["is_v6"].astype(bool),
        src_is_a=src_first,
    )


class KeyHasher:
    def __init__(self, seed: int | None = None) -> None:
        self.seed = np.uint64(int.from_bytes(os.urandom(8), "little") if seed is None else seed)

    def hash(self, k: CanonicalKeys) -> U64:
        h = np.full(len(k.proto), self.seed, dtype=np.uint64)
        small = (
            (k.pa.astype(np.uint64) << np.uint64(48))
            | (k.pb.astype(np.uint64) << np.uint64(32))
            | (k.proto.astype(np.uint64) << np.uint64(24))
            | (k.v6.astype(np.uint64) << np.uint64(23)) ^ k.vlan.astype(np.uint64)
        )
        for part in (k.a_hi, k.a_lo, k.b_hi, k.b_lo, small):
            h = (h ^ part) * _M1
            h ^= h >> _S31
        h *= _M2
        h ^= h >> _S29
        return h


def key_bytes(k: CanonicalKeys) -> list[bytes]:
    """The exact key of every row as bytes (dictionary keys of the flow table's index)."""
    rows = np.empty(len(k.proto), dtype=KEY_DTYPE)
    for f in KEY_FIELDS:
        rows[f] = getattr(k, f)
    raw = rows.tobytes()
    size = KEY_DTYPE.itemsize
    return [raw[i : i + size] for i in range(0, len(raw), size)]

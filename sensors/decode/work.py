"""The state the decoder carries between layers: which packets sit at which header, and where to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from sensors.decode.fragments import FragmentReassembler
from sensors.decode.weird import DecodeStats

I64 = npt.NDArray[np.int64]
U8A = npt.NDArray[np.uint8]


class Layer(IntEnum):
    """What header a packet's current offset points at."""

    ETHERNET = 1
    VLAN = 2
    LLC = 3
    MPLS = 4
    PPPOE = 5
    PPP = 6
    IP = 7  # IPv4 or IPv6, told apart by the version nibble
    IPV4 = 8
    IPV6 = 9
    LINUX_SLL = 10
    LINUX_SLL2 = 11
    NULL = 12
    LOOP = 13
    CHDLC = 14
    FDDI = 15
    IEEE802_11 = 16
    RADIOTAP = 17
    NFLOG = 18
    GRE = 19
    PBB = 20
    VNTAG = 21
    FABRICPATH = 22
    UNDECODABLE = 99


@dataclass(slots=True)
class Work:
    """Packets (rows of the batch) positioned at one header each.

    ``cap_end`` is where the captured bytes of the current layer end in the buffer; ``wire_end`` is
    where they would end had nothing been cut by the snap length (so ``wire_end >= cap_end``).
    ``vlan`` accumulates the 802.1Q ids seen so far (outer << 12 | inner); ``depth`` counts tunnels.
    """

    row: I64
    off: I64
    cap_end: I64
    wire_end: I64
    vlan: I64
    depth: I64

    def __len__(self) -> int:
        return len(self.row)

    def take(self, which: npt.NDArray[np.bool_] | I64) -> Work:
        return Work(
            self.row[which],
            self.off[which],
            self.cap_end[which],
            self.wire_end[which],
            self.vlan[which],
            self.depth[which],
        )

    def at(self, off: I64) -> Work:
        """The same packets, moved to new offsets."""
        return Work(self.row, off, self.cap_end, self.wire_end, self.vlan, self.depth)

    @property
    def avail(self) -> I64:
        """Captured bytes from the current offset on."""
        return self.cap_end - self.off

    @staticmethod
    def concat(parts: list[Work]) -> Work:
        return Work(*(np.concatenate([getattr(p, f) for p in parts]) for f in Work.__slots__))


Step = list[tuple[Layer, Work]]


@dataclass(slots=True)
class Context:
    """What every layer handler needs: the bytes, where to count problems, where to put packets."""

    data: U8A
    capture: str
    first_frame: int
    ts_ns: I64
    stats: DecodeStats
    max_tunnel_depth: int
    max_vlan_tags: int
    reassembler: FragmentReassembler
    out: list[dict[str, npt.NDArray[Any]]] = field(default_factory=list)
    #: Reassembled datagrams waiting to be decoded: layer, row, vlan, depth, bytes.
    pending: list[tuple[Layer, int, int, int, bytes]] = field(default_factory=list)

    def weird(self, name: str, rows: I64) -> None:
        self.stats.count_weird(name, rows, capture=self.capture, first_frame=self.first_frame)

    def other(self, name: str, n: int) -> None:
        self.stats.count_other(name, n)


def split(w: Work, needs: int, ctx: Context, weird_name: str) -> Work:
    """Drop (and count) packets with fewer than ``needs`` captured bytes at their offset."""
    ok = w.avail >= needs
    if ok.all():
        return w
    ctx.weird(weird_name, w.row[~ok])
    return w.take(ok)

"""The batch decoder: packets walked layer by layer, all packets at one layer at once.

Each pass takes the packets sitting at one kind of header (all Ethernet frames, then all VLAN tags,
then all IPv4 headers, ...), reads that header's fields for all of them with array operations, and
moves each packet on to its next header. A batch of 50,000 packets costs a few dozen array
operations per layer instead of 50,000 Python-level parses: that is how one core keeps up with
a tap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import Field

from cityshield.settings import Section
from sensors.decode import link, tunnel
from sensors.decode import weird as W
from sensors.decode.fragments import FragmentReassembler, FragmentSettings
from sensors.decode.ip import ip_by_version, ipv4, ipv6
from sensors.decode.work import I64, Context, Layer, Step, Work
from sensors.gather import PAD
from sensors.sources import linktype as lt
from sensors.sources.batch import PacketBatch


class DecodeSettings(Section):
    max_tunnel_depth: int = Field(3, ge=0, le=16, description="nested tunnels decapsulated")
    max_layers: int = Field(32, ge=4, le=256, description="headers walked per packet")
    weird_samples_per_kind: int = Field(20, ge=0)
    fragments: FragmentSettings = FragmentSettings()


HANDLERS: dict[Layer, Callable[[Context, Work], Step]] = {
    Layer.ETHERNET: link.ethernet,
    Layer.VLAN: link.vlan,
    Layer.LLC: link.llc,
    Layer.MPLS: link.mpls,
    Layer.PPPOE: link.pppoe,
    Layer.PPP: link.ppp,
    Layer.IP: ip_by_version,
    Layer.IPV4: ipv4,
    Layer.IPV6: ipv6,
    Layer.LINUX_SLL: link.linux_sll,
    Layer.LINUX_SLL2: link.linux_sll2,
    Layer.NULL: link.null,
    Layer.LOOP: link.loop,
    Layer.CHDLC: link.chdlc,
    Layer.FDDI: link.fddi,
    Layer.IEEE802_11: link.ieee802_11,
    Layer.RADIOTAP: link.radiotap,
    Layer.NFLOG: link.nflog,
    Layer.GRE: tunnel.gre,
    Layer.PBB: link.pbb,
    Layer.VNTAG: link.vntag,
    Layer.FABRICPATH: link.fabricpath,
}

FIRST_LAYER: dict[int, Layer] = {
    lt.ETHERNET: Layer.ETHERNET,
    lt.NULL: Layer.NULL,
    lt.LOOP: Layer.LOOP,
    lt.RAW: Layer.IP,
    lt.RAW_ALT: Layer.IP,
    lt.RAW_OPENBSD: Layer.IP,
    lt.IPV4: Layer.IPV4,
    lt.IPV6: Layer.IPV6,
    lt.LINUX_SLL: Layer.LINUX_SLL,
    lt.LINUX_SLL2: Layer.LINUX_SLL2,
    lt.PPP: Layer.PPP,
    lt.PPP_ETHER: Layer.PPPOE,
    lt.IEEE802_11: Layer.IEEE802_11,
    lt.IEEE802_11_RADIOTAP: Layer.RADIOTAP,
    lt.NFLOG: Layer.NFLOG,
    lt.CHDLC: Layer.CHDLC,
    lt.FDDI: Layer.FDDI,
}
assert set(FIRST_LAYER) == set(lt.SUPPORTED), "every supported link type needs a first layer"

COLUMNS: dict[str, type[np.generic]] = {
    "row": np.int64, "vlan": np.int64, "depth": np.int64, "is_v6": np.bool_,
    "src_hi": np.uint64, "src_lo": np.uint64, "dst_hi": np.uint64, "dst_lo": np.uint64,
    "proto": np.uint8, "sport": np.uint16, "dport": np.uint16, "tcp_flags": np.uint8,
    "tcp_seq": np.uint32, "tcp_ack": np.uint32, "ip_len": np.int64,
    "payload_off": np.int64, "payload_len": np.int64, "payload_cap": np.int64,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DecodedPackets:
    """One row per IP packet that reached its transport layer, in capture order.

    ``row`` points back into the batch (timestamp, frame number); a tunnelled packet gives a row
    for the outer UDP datagram and one for the inner packet. IPv4 addresses are IPv4-mapped
    IPv6 addresses (``::ffff:a.b.c.d``) split in two 64-bit halves like IPv6 ones. ICMP types
    and codes appear as ports (type, then counterpart type or code), as in Zeek and Community ID.
    """

    data: npt.NDArray[np.uint8]
    columns: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.columns["row"])

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        return self.columns[name]


class Decoder:
    def __init__(self, settings: DecodeSettings | None = None) -> None:
        self.settings = settings or DecodeSettings()
        self.stats = W.DecodeStats(samples_per_kind=self.settings.weird_samples_per_kind)
        self.reassembler = FragmentReassembler(self.settings.fragments)

    def decode(self, batch: PacketBatch) -> DecodedPackets:
        n = len(batch)
        ctx = Context(
            data=batch.data,
            capture=batch.capture,
            first_frame=batch.first_frame,
            ts_ns=batch.ts_ns,
            stats=self.stats,
            max_tunnel_depth=self.settings.max_tunnel_depth,
            max_vlan_tags=2,
            reassembler=self.reassembler,
        )
        rows = np.arange(n, dtype=np.int64)
        zeros = np.zeros(n, dtype=np.int64)
        wire = batch.offset + np.maximum(batch.wirelen, batch.caplen)
        w = Work(rows, batch.offset, batch.offset + batch.caplen, wire, zeros, zeros.copy())
        step = self._first_layers(ctx, w, batch.linktype)
        for _ in range(self.settings.max_layers):
            if not step:
                break
            step = self._pass(ctx, step)
        else:
            for _, left in step:
                ctx.weird(W.DECODE_DEPTH_EXCEEDED, left.row)
        if n:
            expired = self.reassembler.expire(int(batch.ts_ns.max()))
            if expired:  # a zero entry would show up in the stats as a kind of weird seen
                self.stats.weird[W.FRAGMENT_TIMEOUT] += expired
        return self._output(ctx)

    def _first_layers(self, ctx: Context, w: Work, linktypes: npt.NDArray[np.int32]) -> Step:
        step: Step = []
        for value in np.unique(linktypes).tolist():
            m = linktypes == value
            layer = FIRST_LAYER.get(value)
            if layer is None:
                ctx.weird(W.UNSUPPORTED_LINK_TYPE, w.row[m])
            else:
                step.append((layer, w.take(m)))
        return step

    def _pass(self, ctx: Context, step: Step) -> Step:
        by_layer: dict[Layer, list[Work]] = {}
        for layer, work in step:
            if len(work):
                by_layer.setdefault(layer, []).append(work)
        nxt: Step = []
        for layer, works in by_layer.items():
            nxt += HANDLERS[layer](ctx, works[0] if len(works) == 1 else Work.concat(works))
        if ctx.pending:
            nxt += self._reassembled(ctx)
        return nxt

    @staticmethod
    def _reassembled(ctx: Context) -> Step:
        """Append reassembled datagrams to the buffer and decode them like any other packet."""
        pending, ctx.pending = ctx.pending, []
        sizes = np.array([len(p[4]) for p in pending], dtype=np.int64)
        start = len(ctx.data) + np.concatenate(([0], np.cumsum(sizes)[:-1]))
        extra = np.frombuffer(b"".join(p[4] for p in pending), dtype=np.uint8)
        ctx.data = np.concatenate([ctx.data, extra, np.zeros(PAD, dtype=np.uint8)])
        layers = np.array([int(p[0]) for p in pending])
        w = Work(
            np.array([p[1] for p in pending], dtype=np.int64),
            start,
            start + sizes,
            start + sizes,
            np.array([p[2] for p in pending], dtype=np.int64),
            np.array([p[3] for p in pending], dtype=np.int64),
        )
        return [(Layer(k), w.take(layers == k)) for k in np.unique(layers).tolist()]

    @staticmethod
    def _output(ctx: Context) -> DecodedPackets:
        if not ctx.out:
            return DecodedPackets(ctx.data, {k: np.zeros(0, dtype=t) for k, t in COLUMNS.items()})
        cols = {
            k: np.concatenate([o[k] for o in ctx.out]).astype(t, copy=False)
            for k, t in COLUMNS.items()
        }
        order: I64 = np.argsort(cols["row"], kind="stable")
        if not (order[1:] > order[:-1]).all():
            cols = {k: v[order] for k, v in cols.items()}
        return DecodedPackets(ctx.data, cols)

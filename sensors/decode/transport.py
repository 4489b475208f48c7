"""Transport headers (TCP, UDP, SCTP, ICMP, ICMPv6) and the hand-off to tunnels.

Every packet that reaches here becomes one row of decoded output, except IP-in-IP and GRE packets
that are decapsulated (like Zeek, which logs the inner connections of those tunnels, not the outer
packets). UDP tunnels (VXLAN, Geneve, Teredo, AYIYA, GTP-U, GRE-in-UDP) keep their outer row too.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from cityshield.ids import ICMP4_COUNTERPART_TABLE, ICMP6_COUNTERPART_TABLE
from sensors.decode import tunnel
from sensors.decode import weird as W
from sensors.decode.work import I64, Context, Step, Work
from sensors.gather import be16, be32

U64 = npt.NDArray[np.uint64]

TCP, UDP, ICMP, ICMP6, SCTP = 6, 17, 1, 58, 132
IPIP, IPV6_IN_IP, GRE = 4, 41, 47

#: Minimum captured transport header bytes needed to read the fields we use.
_NEEDS = {TCP: (20, W.TRUNCATED_TCP_HEADER), UDP: (8, W.TRUNCATED_UDP_HEADER),
          SCTP: (12, W.TRUNCATED_SCTP_HEADER), ICMP: (4, W.TRUNCATED_ICMP_HEADER),
          ICMP6: (4, W.TRUNCATED_ICMP_HEADER)}  # fmt: skip


class Addresses(NamedTuple):
    v6: bool
    src_hi: U64
    src_lo: U64
    dst_hi: U64
    dst_lo: U64

    def take(self, which: npt.NDArray[np.bool_] | I64) -> Addresses:
        return Addresses(
            self.v6, self.src_hi[which], self.src_lo[which], self.dst_hi[which], self.dst_lo[which]
        )


def transport(
    ctx: Context, w: Work, addrs: Addresses, proto: npt.NDArray[np.uint8], ip_len: I64
) -> Step:
    """Decode transport headers of IP datagrams whose offset is the end of the IP header."""
    d = ctx.data
    n = len(w)
    if n == 0:
        return []
    p = proto.astype(np.int64)
    ok = np.ones(n, dtype=bool)
    for number, (needs, name) in _NEEDS.items():
        short = (p == number) & (w.avail < needs)
        if short.any():
            ctx.weird(name, w.row[short])
            ok &= ~short
    step: Step = []
    tunnelled = np.isin(p, (IPIP, IPV6_IN_IP, GRE)) & ok
    if tunnelled.any():
        consumed, inner = tunnel.ip_tunnels(ctx, w, p, tunnelled)
        step += inner
        ok &= ~consumed
    if not ok.all():
        w, addrs, p, ip_len = w.take(ok), addrs.take(ok), p[ok], ip_len[ok]
        n = len(w)
    o = w.off
    l4_len = w.wire_end - o
    has_ports = (p == TCP) | (p == UDP) | (p == SCTP)
    sport = np.where(has_ports, be16(d, o), 0).astype(np.uint16)
    dport = np.where(has_ports, be16(d, o + 2), 0).astype(np.uint16)
    tcp = p == TCP
    flags = np.where(tcp, d[o + 13], 0).astype(np.uint8)
    seq = np.where(tcp, be32(d, o + 4), 0).astype(np.uint32)
    ack = np.where(tcp, be32(d, o + 8), 0).astype(np.uint32)
    header = np.zeros(n, dtype=np.int64)
    doff = (d[o + 12] >> 4).astype(np.int64) * 4
    bad_doff = tcp & ((doff < 20) | (doff > l4_len))
    if bad_doff.any():
        # Zeek still counts such packets in the connection; so do we, with no payload.
        ctx.weird(W.BAD_TCP_HEADER_LENGTH, w.row[bad_doff])
    header = np.where(tcp, np.where(bad_doff, l4_len, doff), header)
    header = np.where((p == UDP) | (p == ICMP) | (p == ICMP6), 8, header)
    header = np.where(p == SCTP, 12, header)
    header = np.minimum(header, l4_len)
    for number, table in ((ICMP, ICMP4_COUNTERPART_TABLE), (ICMP6, ICMP6_COUNTERPART_TABLE)):
        m = p == number
        if m.any():
            icmp_type = d[o[m]].astype(np.int64)
            counterpart = table[icmp_type]
            sport[m] = icmp_type
            dport[m] = np.where(counterpart >= 0, counterpart, d[o[m] + 1])
    payload_off = o + header
    ctx.out.append(
        {
            "row": w.row,
            "vlan": w.vlan & 0xFFFFFF,  # without the tag count kept above the ids
            "depth": w.depth,
            "is_v6": np.full(n, addrs.v6),
            "src_hi": addrs.src_hi,
            "src_lo": addrs.src_lo,
            "dst_hi": addrs.dst_hi,
            "dst_lo": addrs.dst_lo,
            "proto": p.astype(np.uint8),
            "sport": sport,
            "dport": dport,
            "tcp_flags": flags,
            "tcp_seq": seq,
            "tcp_ack": ack,
            "ip_len": ip_len,
            "payload_off": payload_off,
            "payload_len": w.wire_end - payload_off,
            "payload_cap": np.maximum(w.cap_end - payload_off, 0),
        }
    )
    udp = p == UDP
    if udp.any():
        step += tunnel.udp_tunnels(ctx, w.take(udp).at(payload_off[udp]), sport[udp], dport[udp])
    return step

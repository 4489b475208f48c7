"""Tunnels whose inner packets we decode: IP-in-IP, GRE (with ERSPAN I/II/III and PPTP's enhanced
GRE), and over UDP: VXLAN, Geneve, GRE-in-UDP, Teredo, AYIYA and GTP-U.

Mirrored cloud traffic arrives in VXLAN, Geneve or ERSPAN; an analyst needs the inner conversation,
not the mirror's. Depth is bounded (``max_tunnel_depth``) against tunnels nested on purpose.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from sensors.decode import weird as W
from sensors.decode.work import I64, Context, Layer, Step, Work, split
from sensors.gather import be16

VXLAN_PORT, GENEVE_PORT, GRE_UDP_PORT = 4789, 6081, 4754
TEREDO_PORT, AYIYA_PORT, GTPU_PORT = 3544, 5072, 2152

_GRE_PROTO = {0x0800: Layer.IPV4, 0x86DD: Layer.IPV6, 0x6558: Layer.ETHERNET,
              0x8847: Layer.MPLS, 0x880B: Layer.PPP}  # fmt: skip
ERSPAN_2 = 0x88BE
ERSPAN_3 = 0x22EB

Add = Callable[[Layer, npt.NDArray[np.bool_], I64], None]


def _enter(w: Work) -> Work:
    """The inner packets of a tunnel: one level deeper, with the outer VLAN ids left behind."""
    return Work(w.row, w.off, w.cap_end, w.wire_end, np.zeros(len(w), np.int64), w.depth + 1)


def _room(ctx: Context, w: Work, candidate: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    deep = candidate & (w.depth >= ctx.max_tunnel_depth)
    ctx.weird(W.TUNNEL_DEPTH_EXCEEDED, w.row[deep])
    return candidate & ~deep


def ip_tunnels(
    ctx: Context, w: Work, proto: I64, candidate: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], Step]:
    """IP protocols 4 (IPv4), 41 (IPv6) and 47 (GRE): which packets were taken in, and where to."""
    taken = _room(ctx, w, candidate)
    inner = _enter(w)
    step: Step = [
        (Layer.IPV4, inner.take(taken & (proto == 4))),
        (Layer.IPV6, inner.take(taken & (proto == 41))),
        (Layer.GRE, inner.take(taken & (proto == 47))),
    ]
    return taken, step


def gre(ctx: Context, w: Work) -> Step:
    """RFC 2784/2890 GRE, and version 1 (PPTP, RFC 2637) with its acknowledgement field."""
    w = split(w, 4, ctx, W.TRUNCATED_TUNNEL_HEADER)
    d = ctx.data
    flags = be16(d, w.off).astype(np.int64)
    proto = be16(d, w.off + 2).astype(np.int64)
    version = flags & 7
    csum_or_routing = (flags & 0xC000) != 0
    header = 4 + 4 * csum_or_routing + 4 * ((flags & 0x2000) != 0) + 4 * ((flags & 0x1000) != 0)
    header += np.where(version == 1, 4 * ((flags & 0x0080) != 0), 0)
    # Source routing (R flag) is obsolete and ERSPAN I has no header; anything else is not ours.
    usable = (version <= 1) & ((flags & 0x4000) == 0)
    ctx.other("gre_unsupported", int((~usable).sum()))
    w, header, proto, flags = w.take(usable), header[usable], proto[usable], flags[usable]
    payload = w.off + header
    erspan2 = proto == ERSPAN_2
    payload = np.where(erspan2 & ((flags & 0x1000) != 0), payload + 8, payload)
    erspan3 = proto == ERSPAN_3
    if erspan3.any():
        # Type III: 12 bytes, plus an 8-byte platform sub-header when the O bit is set.
        o_bit = d[np.minimum(payload + 11, len(d) - 1)] & 1
        payload = np.where(erspan3, payload + 12 + 8 * o_bit, payload)
    proto = np.where(erspan2 | erspan3, 0x6558, proto)
    short = payload > w.cap_end
    ctx.weird(W.TRUNCATED_TUNNEL_HEADER, w.row[short])
    step: Step = []
    for value, layer in _GRE_PROTO.items():
        m = (proto == value) & ~short
        if m.any():
            step.append((layer, w.take(m).at(payload[m])))
    ctx.other("gre_unknown_protocol", int((~np.isin(proto, list(_GRE_PROTO)) & ~short).sum()))
    return step


def udp_tunnels(
    ctx: Context, w: Work, sport: npt.NDArray[np.uint16], dport: npt.NDArray[np.uint16]
) -> Step:
    """Inner packets of UDP-borne tunnels; ``w`` points at the UDP payload."""
    if len(w) == 0:
        return []
    d = ctx.data
    sp, dp = sport.astype(np.int64), dport.astype(np.int64)
    avail = w.avail
    first = d[w.off].astype(np.int64)
    step: Step = []

    def add(layer: Layer, m: npt.NDArray[np.bool_], off: I64) -> None:
        m = _room(ctx, w, m)
        if m.any():
            step.append((layer, _enter(w.take(m)).at(off[m])))

    # VXLAN (RFC 7348): 8 bytes with the I flag set, then an Ethernet frame.
    add(Layer.ETHERNET, (dp == VXLAN_PORT) & (avail >= 8) & ((first & 0x08) != 0), w.off + 8)

    # Geneve (RFC 8926): version 0, options in 4-byte words, then the protocol type.
    gen = (dp == GENEVE_PORT) & (avail >= 8) & ((first >> 6) == 0)
    gen_off = w.off + 8 + (first & 0x3F) * 4
    gen_proto = be16(d, w.off + 2)
    for value, layer in ((0x6558, Layer.ETHERNET), (0x0800, Layer.IPV4), (0x86DD, Layer.IPV6)):
        add(layer, gen & (gen_proto == value) & (gen_off <= w.cap_end), gen_off)

    # GRE in UDP (RFC 8086).
    add(Layer.GRE, (dp == GRE_UDP_PORT) & (avail >= 4), w.off)

    _teredo(ctx, w, (sp == TEREDO_PORT) | (dp == TEREDO_PORT), add)
    _ayiya(ctx, w, (sp == AYIYA_PORT) | (dp == AYIYA_PORT), add)
    _gtpu(ctx, w, (sp == GTPU_PORT) | (dp == GTPU_PORT), add)
    return step


def _teredo(ctx: Context, w: Work, cand: npt.NDArray[np.bool_], add: Add) -> None:
    """Teredo (RFC 4380): optional authentication and origin headers, then a plausible IPv6 packet.

    Teredo has no magic number, so like Zeek we only accept payloads that parse as IPv6 whose
    length matches the datagram exactly.
    """
    if not cand.any():
        return
    d = ctx.data
    off = w.off.copy()
    auth = cand & (w.avail >= 4) & (d[off] == 0) & (d[off + 1] == 1)
    auth_len = 4 + d[off + 2].astype(np.int64) + d[off + 3].astype(np.int64) + 9
    # Offsets computed from packet fields are clamped before reading (the buffer's padding
    # covers reads up to PAD bytes past a packet, not arbitrary jumps).
    off = np.minimum(np.where(auth, off + auth_len, off), w.cap_end)
    origin = cand & (off + 8 <= w.cap_end) & (d[off] == 0) & (d[off + 1] == 0)
    off = np.where(origin, off + 8, off)
    ipv6 = cand & (off + 40 <= w.cap_end) & ((d[off] >> 4) == 6)
    plen = be16(d, off + 4).astype(np.int64)
    ipv6 &= off + 40 + plen == w.wire_end
    # A bubble (no next header, no payload) keeps a NAT mapping open; it carries no inner packet.
    bubble = (d[off + 6] == 59) & (plen == 0)
    add(Layer.IPV6, ipv6 & ~bubble, off)


def _ayiya(ctx: Context, w: Work, cand: npt.NDArray[np.bool_], add: Add) -> None:
    """AYIYA: identity and signature lengths in the header, opcode 1 (forward), next header 4/41."""
    if not cand.any():
        return
    d = ctx.data
    o = w.off
    id_len = 1 << (d[o] >> 4).astype(np.int64)
    sig_len = (d[o + 1] >> 4).astype(np.int64) * 4
    opcode = d[o + 2] & 0x0F
    nxt = d[o + 3]
    off = o + 8 + id_len + sig_len
    ok = cand & (w.avail >= 8) & (opcode == 1) & (off <= w.cap_end)
    add(Layer.IPV4, ok & (nxt == 4), off)
    add(Layer.IPV6, ok & (nxt == 41), off)


def _gtpu(ctx: Context, w: Work, cand: npt.NDArray[np.bool_], add: Add) -> None:
    """GTPv1-U (3GPP TS 29.281) G-PDUs carry user IP packets; extension headers are chained."""
    if not cand.any():
        return
    d = ctx.data
    o = w.off
    flags = d[o].astype(np.int64)
    ok = cand & (w.avail >= 8) & ((flags >> 5) == 1) & ((flags & 0x10) != 0) & (d[o + 1] == 0xFF)
    optional = (flags & 0x07) != 0
    header = np.where(optional, 12, 8)
    nxt = np.where(optional & ((flags & 0x04) != 0), d[o + 11].astype(np.int64), 0)
    for _ in range(8):
        more = ok & (nxt != 0)
        if not more.any():
            break
        ext_len = d[np.minimum(o + header, len(d) - 1)].astype(np.int64) * 4
        bad = more & ((ext_len == 0) | (o + header + ext_len > w.cap_end))
        ok &= ~bad
        more &= ~bad
        nxt_idx = np.minimum(o + header + ext_len - 1, len(d) - 1)
        nxt = np.where(more, d[nxt_idx].astype(np.int64), nxt)
        header = np.where(more, header + ext_len, header)
    ok &= (nxt == 0) & (o + header < w.cap_end)
    add(Layer.IP, ok, o + header)

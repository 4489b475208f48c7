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
from sensors.gather import be16, be32

VXLAN_PORT, GENEVE_PORT, GRE_UDP_PORT = 4789, 6081, 4754
TEREDO_PORT, AYIYA_PORT, GTPU_PORT = 3544, 5072, 2152

#: Stands for every Aruba 802.11-over-GRE protocol type (see ``gre``); not a real EtherType.
ARUBA_WLAN = 0x10000
_GRE_PROTO = {0x0800: Layer.IPV4, 0x86DD: Layer.IPV6, 0x6558: Layer.ETHERNET,
              0x8847: Layer.MPLS, 0x880B: Layer.PPP, ARUBA_WLAN: Layer.IEEE802_11}  # fmt: skip
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
    # Source routing (R flag) is obsolete and the reserved flag bits must be clear (as in Zeek's
    # GRE analyzer, which drops both); versions other than 0 and 1 (PPTP) are not ours.
    usable = (version <= 1) & ((flags & 0x4000) == 0) & ((flags & 0x0078) == 0)
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
    # Aruba controllers tunnel 802.11 frames in GRE under vendor protocol types (the set Zeek's
    # GRE analyzer maps to DLT_IEEE802_11).
    aruba = ((flags & 7) == 0) & (
        (((proto & 0x8200) == 0x8200) & ((proto & 0x0F) == 0))
        | (((proto & 0x8300) == 0x8300) & ((proto & 0x0F) == 0) & (proto <= 0x8370))
        | (proto == 0x9000)
    )
    proto = np.where(aruba, ARUBA_WLAN, proto)
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

    # Zeek hands a UDP payload to a tunnel analyzer by port, and tries Teredo detection on the
    # datagrams no port claims.
    claimed = (
        np.isin(dp, (VXLAN_PORT, GENEVE_PORT, GRE_UDP_PORT))
        | np.isin(sp, (AYIYA_PORT, GTPU_PORT))
        | np.isin(dp, (AYIYA_PORT, GTPU_PORT))
    )
    teredo_port = (sp == TEREDO_PORT) | (dp == TEREDO_PORT)
    _teredo(ctx, w, teredo_port, ~teredo_port & ~claimed, add)
    _ayiya(ctx, w, (sp == AYIYA_PORT) | (dp == AYIYA_PORT), add)
    _gtpu(ctx, w, (sp == GTPU_PORT) | (dp == GTPU_PORT), add)
    return step


def _teredo(
    ctx: Context,
    w: Work,
    by_port: npt.NDArray[np.bool_],
    detectable: npt.NDArray[np.bool_],
    add: Add,
) -> None:
    """Teredo (RFC 4380): optional authentication and origin indication, then an IPv6 packet.

    Follows Zeek's Teredo packet analyzer: on port 3544 every datagram is parsed as Teredo; on
    other ports (relays pick any) a datagram is Teredo when it starts with an origin indication
    (perhaps after an authentication header) or is an IPv6 packet with a Teredo address
    (2001:0::/32) as source or destination (``TeredoAnalyzer::DetectProtocol``). Teredo has no
    magic number, so the inner IPv6 length must match the datagram exactly; bubbles (no next
    header, no payload) keep NAT mappings open and carry no inner packet.
    """
    d = ctx.data
    first = d[w.off]
    maybe = (by_port | detectable) & (w.avail >= 40) & (((first >> 4) == 6) | (first == 0))
    if not maybe.any():
        return
    idx = np.flatnonzero(maybe)
    sub = w.take(idx)
    o, e = sub.off, sub.cap_end
    auth = (d[o] == 0) & (d[o + 1] == 1)
    auth_len = 13 + d[o + 2].astype(np.int64) + d[o + 3].astype(np.int64)
    # Offsets computed from packet fields are clamped before reading (the buffer's padding
    # covers reads up to PAD bytes past a packet, not arbitrary jumps).
    o = np.minimum(np.where(auth, o + auth_len, o), e)
    origin = (o + 8 <= e) & (d[o] == 0) & (d[o + 1] == 0)
    o = np.where(origin, o + 8, o)
    ipv6 = (o + 40 <= e) & ((d[o] >> 4) == 6)
    teredo_addr = (be32(d, o + 8) == 0x20010000) | (be32(d, o + 24) == 0x20010000)
    detected = origin | (~auth & teredo_addr)
    plen = be16(d, o + 4).astype(np.int64)
    exact = o + 40 + plen == sub.wire_end
    bubble = (d[o + 6] == 59) & (plen == 0)
    inner = ipv6 & exact & ~bubble & (by_port[idx] | (detectable[idx] & detected))
    mask = np.zeros(len(w), dtype=bool)
    mask[idx[inner]] = True
    offs = w.off.copy()
    offs[idx] = o
    add(Layer.IPV6, mask, offs)


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

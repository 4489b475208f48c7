"""Link layers and what sits between them and IP: Ethernet, 802.1Q/QinQ, LLC/SNAP, MPLS, PPP(oE),
Linux cooked v1/v2, BSD loopback, Cisco HDLC, FDDI, 802.11 (plain and radiotap), NFLOG, and the
bridging headers Zeek also decodes (802.1ah PBB, VN-Tag, Cisco FabricPath).
"""

from __future__ import annotations

import struct

import numpy as np

from sensors.decode import weird as W
from sensors.decode.work import I64, Context, Layer, Step, Work, split
from sensors.gather import be16, be32, le16, le32

ETHERTYPE_LAYER: dict[int, Layer] = {
    0x0800: Layer.IPV4,
    0x86DD: Layer.IPV6,
    0x8100: Layer.VLAN,
    0x88A8: Layer.VLAN,
    0x9100: Layer.VLAN,
    0x9200: Layer.VLAN,
    0x8847: Layer.MPLS,
    0x8848: Layer.MPLS,
    0x8864: Layer.PPPOE,
    0x88E7: Layer.PBB,
    0x8926: Layer.VNTAG,
    0x8903: Layer.FABRICPATH,
}
ETHERTYPE_ARP = 0x0806
PPP_LAYER: dict[int, Layer] = {0x0021: Layer.IPV4, 0x0057: Layer.IPV6, 0x0281: Layer.MPLS}


def by_type(ctx: Context, w: Work, kind: np.ndarray, payload: I64, table: dict[int, Layer]) -> Step:
    """Send each packet to the layer its type field names; count the rest as not IP."""
    step: Step = []
    if len(w) == 0:
        return step
    values, inverse = np.unique(kind, return_inverse=True)
    for i, value in enumerate(values.tolist()):
        m = inverse == i
        layer = table.get(value)
        if layer is not None:
            step.append((layer, w.take(m).at(payload[m])))
        elif table is ETHERTYPE_LAYER and value == ETHERTYPE_ARP:
            ctx.other(W.ARP, int(m.sum()))
        elif table is ETHERTYPE_LAYER and value <= 1500:
            # An 802.3 length field, not a type: LLC (and perhaps SNAP) follows.
            step.append((Layer.LLC, w.take(m).at(payload[m])))
        else:
            ctx.other(W.NON_IP, int(m.sum()))
    return step


def ethernet(ctx: Context, w: Work) -> Step:
    w = split(w, 14, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(ctx.data, w.off + 12), w.off + 14, ETHERTYPE_LAYER)


def vlan(ctx: Context, w: Work) -> Step:
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    vid = (be16(ctx.data, w.off) & 0x0FFF).astype(np.int64)
    # Keep the two innermost ids (outer << 12 | inner), the pair Zeek logs as vlan/inner_vlan.
    # The count of tags rides above those 24 bits (transport strips it): a packet with more than
    # ``max_vlan_tags`` is counted once, and still decoded.
    tags = (w.vlan >> 24) + 1
    ctx.weird(W.TOO_MANY_VLAN_TAGS, w.row[tags == ctx.max_vlan_tags + 1])
    w.vlan = (np.minimum(tags, 255) << 24) | (((w.vlan << 12) | vid) & 0xFFFFFF)
    return by_type(ctx, w, be16(ctx.data, w.off + 2), w.off + 4, ETHERTYPE_LAYER)


def llc(ctx: Context, w: Work) -> Step:
    w = split(w, 3, ctx, W.TRUNCATED_LINK_HEADER)
    d = ctx.data
    snap = (d[w.off] == 0xAA) & (d[w.off + 1] == 0xAA) & (d[w.off + 2] == 0x03) & (w.avail >= 8)
    ctx.other(W.NON_IP, int((~snap).sum()))
    w = w.take(snap)
    return by_type(ctx, w, be16(d, w.off + 6), w.off + 8, ETHERTYPE_LAYER)


def mpls(ctx: Context, w: Work) -> Step:
    """One label per pass; after the bottom of the stack the version nibble tells IPv4 from IPv6."""
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    bottom = (ctx.data[w.off + 2] & 1).astype(bool)
    nxt = w.at(w.off + 4)
    return [(Layer.MPLS, nxt.take(~bottom)), (Layer.IP, nxt.take(bottom))]


def pppoe(ctx: Context, w: Work) -> Step:
    w = split(w, 8, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(ctx.data, w.off + 6), w.off + 8, PPP_LAYER)


def ppp(ctx: Context, w: Work) -> Step:
    w = split(w, 2, ctx, W.TRUNCATED_LINK_HEADER)
    d = ctx.data
    # Address and control bytes (0xff 0x03) are optional (RFC 1662 address/control compression).
    skip = np.where((d[w.off] == 0xFF) & (d[w.off + 1] == 0x03), 2, 0)
    w = w.at(w.off + skip)
    w = split(w, 2, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(d, w.off), w.off + 2, PPP_LAYER)


def linux_sll(ctx: Context, w: Work) -> Step:
    w = split(w, 16, ctx, W.TRUNCATED_LINK_HEADER)
    proto = be16(ctx.data, w.off + 14)
    # Protocol 0x0004 means an 802.2 LLC frame follows (linux/if_ether.h ETH_P_802_2).
    proto = np.where(proto == 0x0004, 0, proto)
    return by_type(ctx, w, proto, w.off + 16, ETHERTYPE_LAYER)


def linux_sll2(ctx: Context, w: Work) -> Step:
    w = split(w, 20, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(ctx.data, w.off), w.off + 20, ETHERTYPE_LAYER)


_AF_LAYER = {2: Layer.IPV4, 24: Layer.IPV6, 28: Layer.IPV6, 30: Layer.IPV6}


def null(ctx: Context, w: Work) -> Step:
    """BSD loopback: the address family in the byte order of the host that captured it."""
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    le = le32(ctx.data, w.off)
    family = np.where(le < 256, le, be32(ctx.data, w.off))
    return by_type(ctx, w, family, w.off + 4, _AF_LAYER)


def loop(ctx: Context, w: Work) -> Step:
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be32(ctx.data, w.off), w.off + 4, _AF_LAYER)


def chdlc(ctx: Context, w: Work) -> Step:
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(ctx.data, w.off + 2), w.off + 4, ETHERTYPE_LAYER)


def fddi(ctx: Context, w: Work) -> Step:
    w = split(w, 13, ctx, W.TRUNCATED_LINK_HEADER)
    return [(Layer.LLC, w.at(w.off + 13))]


def pbb(ctx: Context, w: Work) -> Step:
    """802.1ah: a 4-byte I-TAG, then the customer's whole Ethernet frame."""
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    return [(Layer.ETHERNET, w.at(w.off + 4))]


def vntag(ctx: Context, w: Work) -> Step:
    w = split(w, 6, ctx, W.TRUNCATED_LINK_HEADER)
    return by_type(ctx, w, be16(ctx.data, w.off + 4), w.off + 6, ETHERTYPE_LAYER)


def fabricpath(ctx: Context, w: Work) -> Step:
    """Cisco FabricPath: a 2-byte FTag/TTL after the outer EtherType, then the inner frame."""
    w = split(w, 2, ctx, W.TRUNCATED_LINK_HEADER)
    return [(Layer.ETHERNET, w.at(w.off + 2))]


def radiotap(ctx: Context, w: Work) -> Step:
    w = split(w, 8, ctx, W.TRUNCATED_LINK_HEADER)
    length = le16(ctx.data, w.off + 2).astype(np.int64)
    return [(Layer.IEEE802_11, w.at(w.off + length))]


def ieee802_11(ctx: Context, w: Work) -> Step:
    w = split(w, 24, ctx, W.TRUNCATED_LINK_HEADER)
    d = ctx.data
    fc, flags = d[w.off].astype(np.int64), d[w.off + 1].astype(np.int64)
    ftype, subtype = (fc >> 2) & 3, fc >> 4
    qos = (subtype & 0x8) != 0
    hdr = 24 + np.where((flags & 3) == 3, 6, 0) + np.where(qos, 2, 0)
    hdr += np.where(qos & ((flags & 0x80) != 0), 4, 0)
    # Data frames only, not the null-data subtypes, and not protected (encrypted) payloads.
    data_frame = (ftype == 2) & ((subtype & 0x4) == 0)
    protected = (flags & 0x40) != 0
    ctx.other(W.ENCRYPTED_802_11, int((data_frame & protected).sum()))
    ctx.other(W.NON_IP, int((~data_frame).sum()))
    ok = data_frame & ~protected
    # QoS data frames whose QoS control field has the A-MSDU bit carry several LLC frames
    # (IEEE 802.11-2020 9.3.2.2), as Aruba controllers tunnel them in GRE; Zeek's IEEE802_11
    # analyzer decodes every subframe.
    qos_at = np.minimum(w.off + 24 + np.where((flags & 3) == 3, 6, 0), w.cap_end)
    amsdu = ok & qos & ((d[qos_at] & 0x80) != 0)
    plain = ok & ~amsdu
    step: Step = [(Layer.LLC, w.take(plain).at(w.off[plain] + hdr[plain]))]
    if amsdu.any():
        step += _amsdu(ctx, w.take(amsdu).at(w.off[amsdu] + hdr[amsdu]))
    return step


MAX_AMSDU_SUBFRAMES = 64


def _amsdu(ctx: Context, w: Work) -> Step:
    """A-MSDU subframes: destination, source, a 2-byte length, the LLC frame, and padding to a
    multiple of 4 bytes (except after the last). One pass per subframe index, all frames at once."""
    d = ctx.data
    step: Step = []
    pos = w.off.copy()
    alive = pos < w.cap_end
    for _ in range(MAX_AMSDU_SUBFRAMES):
        idx = np.flatnonzero(alive)
        if len(idx) == 0:
            return step
        at = pos[idx]
        end = w.cap_end[idx]
        length = np.where(at + 14 <= end, be16(d, np.minimum(at + 12, end)), 0).astype(np.int64)
        fits = (at + 14 <= end) & (at + 14 + length <= end)
        ctx.weird(W.TRUNCATED_LINK_HEADER, w.row[idx[~fits]])
        keep = idx[fits]
        sub = w.take(keep).at(at[fits] + 14)
        sub.cap_end = sub.off + length[fits]
        sub.wire_end = sub.cap_end.copy()
        step.append((Layer.LLC, sub))
        pos[keep] = sub.cap_end + (-(14 + length[fits]) % 4)
        alive[:] = False
        alive[keep] = pos[keep] < w.cap_end[keep]
    ctx.weird(W.DECODE_DEPTH_EXCEEDED, w.row[alive])
    return step


_NFLOG_FAMILY = {2: Layer.IPV4, 10: Layer.IPV6}
_NFULA_PAYLOAD = 9


def nflog(ctx: Context, w: Work) -> Step:
    """Linux NFLOG: TLVs after a 4-byte header; the payload TLV holds the IP packet.

    Walked per packet in Python: NFLOG is a rare, low-rate capture source, and TLV chains do not
    vectorise.
    """
    w = split(w, 4, ctx, W.TRUNCATED_LINK_HEADER)
    rows: list[int] = []
    offs: list[int] = []
    ends: list[int] = []
    layers: list[int] = []
    bad: list[int] = []
    data = ctx.data
    for i, (off, end) in enumerate(zip(w.off.tolist(), w.cap_end.tolist(), strict=True)):
        layer = _NFLOG_FAMILY.get(int(data[off]))
        pos = off + 4
        found = False
        while layer is not None and pos + 4 <= end:
            length, tlv_type = struct.unpack("<HH", data[pos : pos + 4].tobytes())
            if length < 4 or pos + length > end:
                break
            if tlv_type == _NFULA_PAYLOAD:
                rows.append(i)
                offs.append(pos + 4)
                ends.append(pos + length)
                layers.append(int(layer))
                found = True
                break
            pos += length + (-length % 4)
        if not found:
            bad.append(i)
    if bad:
        ctx.weird(W.TRUNCATED_LINK_HEADER, w.row[np.asarray(bad, dtype=np.int64)])
    if not rows:
        return []
    idx = np.asarray(rows, dtype=np.int64)
    sub = w.take(idx).at(np.asarray(offs, dtype=np.int64))
    sub.cap_end = np.minimum(sub.cap_end, np.asarray(ends, dtype=np.int64))
    sub.wire_end = np.minimum(sub.wire_end, np.asarray(ends, dtype=np.int64))
    lay = np.asarray(layers)
    return [(Layer(k), sub.take(lay == k)) for k in np.unique(lay).tolist()]

"""IPv4 and IPv6 (with extension headers). Fragments go to the reassembler, the rest on."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sensors.decode import weird as W
from sensors.decode.transport import Addresses, transport
from sensors.decode.work import I64, Context, Layer, Step, Work, split
from sensors.gather import be16, be32, be64

MAPPED_V4 = np.int64(0x0000FFFF00000000).astype(np.uint64)

# Extension headers walked to reach the transport header (RFC 8200 section 4, IANA's list).
_EXT_8OCTET = np.zeros(256, dtype=bool)
_EXT_8OCTET[[0, 43, 60, 135, 139, 140, 253, 254]] = True
EXT_FRAGMENT = 44
EXT_AH = 51
MAX_EXT_HEADERS = 16


def ip_by_version(ctx: Context, w: Work) -> Step:
    w = split(w, 1, ctx, W.TRUNCATED_IP_HEADER)
    version = ctx.data[w.off] >> 4
    v4, v6 = version == 4, version == 6
    ctx.weird(W.BAD_IP_VERSION, w.row[~(v4 | v6)])
    return [(Layer.IPV4, w.take(v4)), (Layer.IPV6, w.take(v6))]


def _ip_length(ctx: Context, w: Work, header: I64, total: I64) -> tuple[Work, I64, np.ndarray]:
    """Check the IP total length against the header and the wire; returns kept packets."""
    zero = total == 0
    if zero.any():
        # TCP segmentation offload leaves the length zero; take the frame's length (as Zeek does).
        ctx.weird(W.IP_HDR_LEN_ZERO, w.row[zero])
        total = np.where(zero, w.wire_end - w.off, total)
    short = total < header
    ctx.weird(W.BAD_IP_LENGTH, w.row[short])
    truncated = ~short & (w.off + total > w.wire_end)
    ctx.weird(W.TRUNCATED_IP, w.row[truncated])
    keep = ~(short | truncated)
    w, total = w.take(keep), total[keep]
    end = w.off + total
    # Strip Ethernet padding and anything else after the IP datagram.
    w.cap_end = np.minimum(w.cap_end, end)
    w.wire_end = end
    return w, total, keep


def ipv4(ctx: Context, w: Work) -> Step:
    w = split(w, 20, ctx, W.TRUNCATED_IP_HEADER)
    d, o = ctx.data, w.off
    first = d[o].astype(np.int64)
    bad_version = (first >> 4) != 4
    ihl = (first & 0x0F) * 4
    bad_ihl = ~bad_version & ((ihl < 20) | (ihl > w.avail))
    ctx.weird(W.BAD_IP_VERSION, w.row[bad_version])
    ctx.weird(W.BAD_IP_HEADER_LENGTH, w.row[bad_ihl])
    ok = ~(bad_version | bad_ihl)
    w, ihl = w.take(ok), ihl[ok]
    w, total, keep = _ip_length(ctx, w, ihl, be16(d, w.off + 2).astype(np.int64))
    ihl, o = ihl[keep], w.off
    frag = be16(d, o + 6)
    proto = d[o + 9]
    src = be32(d, o + 12).astype(np.uint64) | MAPPED_V4
    dst = be32(d, o + 16).astype(np.uint64) | MAPPED_V4
    fragment = (frag & 0x3FFF) != 0  # more-fragments flag or an offset
    if fragment.any():
        fi = np.flatnonzero(fragment)
        _collect_v4(ctx, w.take(fi), ihl[fi], frag[fi])
        whole = ~fragment
        w, ihl, total, proto, src, dst = (
            w.take(whole),
            ihl[whole],
            total[whole],
            proto[whole],
            src[whole],
            dst[whole],
        )
    zeros = np.zeros(len(w), dtype=np.uint64)
    addrs = Addresses(False, zeros, src, zeros, dst)
    return transport(ctx, w.at(w.off + ihl), addrs, proto, total)


def ipv6(ctx: Context, w: Work) -> Step:
    w = split(w, 40, ctx, W.TRUNCATED_IP_HEADER)
    d = ctx.data
    bad_version = (d[w.off] >> 4) != 6
    ctx.weird(W.BAD_IP_VERSION, w.row[bad_version])
    w = w.take(~bad_version)
    # A zero payload length is literal (a bare header, as Zeek's IP_Hdr::TotalLen counts it)
    # except before a Hop-by-Hop header (an RFC 2675 jumbogram) or a TCP/UDP header (an
    # offloaded segment, which cannot be empty): those take the frame's length.
    total = be16(d, w.off + 4).astype(np.int64) + 40
    nh0 = d[w.off + 6]
    sized_by_frame = (total == 40) & ((nh0 == 0) | (nh0 == 6) | (nh0 == 17))
    total = np.where(sized_by_frame, np.maximum(w.wire_end - w.off, 40), total)
    w, total, _ = _ip_length(ctx, w, np.full(len(w), 40, dtype=np.int64), total)
    o = w.off
    src_hi, src_lo = be64(d, o + 8), be64(d, o + 16)
    dst_hi, dst_lo = be64(d, o + 24), be64(d, o + 32)
    nh = d[o + 6].astype(np.int64)
    l4 = o + 40
    frag_at = np.full(len(w), -1, dtype=np.int64)
    alive = np.ones(len(w), dtype=bool)
    fragment = np.zeros(len(w), dtype=bool)
    for _ in range(MAX_EXT_HEADERS):
        walk = alive & ~fragment & (_EXT_8OCTET[nh] | (nh == EXT_AH) | (nh == EXT_FRAGMENT))
        if not walk.any():
            break
        short = walk & (l4 + 8 > w.cap_end)
        ctx.weird(W.TRUNCATED_IPV6_EXT_HEADER, w.row[short])
        alive &= ~short
        walk &= ~short
        at = np.minimum(l4, w.cap_end)  # a length field may have pointed far past the packet
        length = np.where(
            nh == EXT_AH,
            (d[at + 1].astype(np.int64) + 2) * 4,
            np.where(nh == EXT_FRAGMENT, 8, (d[at + 1].astype(np.int64) + 1) * 8),
        )
        # A real fragment ends the walk: what follows is a piece of the payload. Atomic
        # fragments (offset 0 and no more-fragments flag, RFC 6946) are whole datagrams.
        is_frag = walk & (nh == EXT_FRAGMENT) & ((be16(d, at + 2) & 0xFFF9) != 0)
        frag_at = np.where(is_frag, l4, frag_at)
        fragment |= is_frag
        walk &= ~is_frag
        nh = np.where(walk, d[at].astype(np.int64), nh)
        l4 = np.where(walk, l4 + length, l4)
    else:
        deep = alive & ~fragment & (_EXT_8OCTET[nh] | (nh == EXT_AH) | (nh == EXT_FRAGMENT))
        ctx.weird(W.TOO_MANY_IPV6_EXT_HEADERS, w.row[deep])
        alive &= ~deep
    over = alive & ~fragment & (l4 > w.wire_end)
    ctx.weird(W.TRUNCATED_IPV6_EXT_HEADER, w.row[over])
    alive &= ~over
    fragment &= alive
    if fragment.any():
        fi = np.flatnonzero(fragment)
        _collect_v6(ctx, w.take(fi), frag_at[fi])
    keep = alive & ~fragment
    w, l4, nh, total = w.take(keep), l4[keep], nh[keep], total[keep]
    addrs = Addresses(True, src_hi[keep], src_lo[keep], dst_hi[keep], dst_lo[keep])
    return transport(ctx, w.at(l4), addrs, nh.astype(np.uint8), total)


def _plausible(ctx: Context, w: Work, payload: I64, more: np.ndarray) -> npt.NDArray[np.bool_]:
    """Fragments worth the slow path: whole in the capture (not cut by the snap length), and a
    multiple of 8 bytes unless last. Checked for all at once, so that a flood of junk fragments
    (a known way to make IDSes burn CPU) costs array operations, not Python calls."""
    bad = (w.cap_end < w.wire_end) | (more & ((payload % 8) != 0)) | (payload < 0)
    ctx.weird(W.BAD_FRAGMENT, w.row[bad])
    return np.asarray(~bad, dtype=bool)


def _collect_v4(ctx: Context, w: Work, ihl: I64, frag: np.ndarray) -> None:
    """Hand IPv4 fragments to the reassembler, one by one (fragments are rare: the slow path)."""
    d = ctx.data
    ok = _plausible(ctx, w, w.wire_end - w.off - ihl, (frag & 0x2000) != 0)
    w, ihl, frag = w.take(ok), ihl[ok], frag[ok]
    for i in range(len(w)):
        off, end, row = int(w.off[i]), int(w.wire_end[i]), int(w.row[i])
        raw = d[off:end].tobytes()
        h = int(ihl[i])
        key = (False, raw[12:16], raw[16:20], int.from_bytes(raw[4:6], "big"), raw[9])
        start = (int(frag[i]) & 0x1FFF) * 8
        done, weird = ctx.reassembler.add(
            key, ts_ns=int(ctx.ts_ns[row]), start=start, more=bool(int(frag[i]) & 0x2000),
            payload=raw[h:], header=raw[:h] if start == 0 else None,
        )  # fmt: skip
        for name in weird:
            ctx.weird(name, w.row[i : i + 1])
        if done is not None:
            header, payload = bytearray(done[0]), done[1]
            header[2:4] = (len(header) + len(payload)).to_bytes(2, "big")
            header[6:8] = b"\0\0"
            ctx.pending.append(
                (Layer.IPV4, row, int(w.vlan[i]), int(w.depth[i]), bytes(header) + payload)
            )


def _collect_v6(ctx: Context, w: Work, frag_at: I64) -> None:
    """Hand IPv6 fragments (RFC 8200 section 4.5) to the reassembler."""
    d = ctx.data
    more = (be16(d, frag_at + 2) & 1) != 0
    ok = _plausible(ctx, w, w.wire_end - frag_at - 8, more)
    w, frag_at = w.take(ok), frag_at[ok]
    for i in range(len(w)):
        off, fh, end, row = int(w.off[i]), int(frag_at[i]), int(w.wire_end[i]), int(w.row[i])
        base = d[off : off + 40].tobytes()
        frag = d[fh : fh + 8].tobytes()
        key = (True, base[8:24], base[24:40], int.from_bytes(frag[4:8], "big"), frag[0])
        word = int.from_bytes(frag[2:4], "big")
        start = word & 0xFFF8
        done, weird = ctx.reassembler.add(
            key, ts_ns=int(ctx.ts_ns[row]), start=start, more=bool(word & 1),
            payload=d[fh + 8 : end].tobytes(), header=base if start == 0 else None,
        )  # fmt: skip
        for name in weird:
            ctx.weird(name, w.row[i : i + 1])
        if done is not None:
            header, payload = bytearray(done[0]), done[1]
            header[4:6] = len(payload).to_bytes(2, "big")
            header[6] = frag[0]
            ctx.pending.append(
                (Layer.IPV6, row, int(w.vlan[i]), int(w.depth[i]), bytes(header) + payload)
            )

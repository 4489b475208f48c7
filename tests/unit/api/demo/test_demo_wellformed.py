"""Every frame is well-formed: lengths, padding, checksums (recomputed here, RFC 1071), and TCP
sequence and acknowledgment numbers that a receiver would accept."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import dpkt
from scapy.layers.l2 import Ether

if TYPE_CHECKING:
    from .conftest import Observed, Packet

SYN, FIN, ACK = dpkt.tcp.TH_SYN, dpkt.tcp.TH_FIN, dpkt.tcp.TH_ACK
MASK = 0xFFFFFFFF
_ETHERTYPE_IPV4 = 0x0800
_MIN_FRAME = 60


def _sum16(data: bytes) -> int:
    """The ones' complement sum (RFC 1071); a correct checksum makes it 0xFFFF."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def test_frames_are_ethernet_ipv4_with_zero_padding(packets: list[Packet]) -> None:
    for p in packets:
        assert struct.unpack("!H", p.frame[12:14])[0] == _ETHERTYPE_IPV4, p.index
        assert p.ip.v == 4 and p.ip.hl == 5, p.index
        end = 14 + p.ip.len
        assert len(p.frame) == max(end, _MIN_FRAME), p.index
        assert p.frame[end:] == bytes(len(p.frame) - end), p.index


def test_checksums(packets: list[Packet]) -> None:
    for p in packets:
        raw = p.frame[14 : 14 + p.ip.len]
        assert _sum16(raw[:20]) == 0xFFFF, f"IPv4 header checksum, frame {p.index + 1}"
        segment = raw[20:]
        if p.ip.p == dpkt.ip.IP_PROTO_ICMP:
            assert _sum16(segment) == 0xFFFF, f"ICMP checksum, frame {p.index + 1}"
            continue
        assert p.ip.p != dpkt.ip.IP_PROTO_UDP or segment[6:8] != b"\x00\x00"  # UDP checksum set
        pseudo = raw[12:20] + struct.pack("!BBH", 0, p.ip.p, len(segment))
        assert _sum16(pseudo + segment) == 0xFFFF, f"TCP/UDP checksum, frame {p.index + 1}"


def test_scapy_dissects_and_rebuilds_frames_unchanged(packets: list[Packet]) -> None:
    # A sample, since scapy takes about a millisecond a frame: every 20th frame and the last.
    for p in [*packets[::20], packets[-1]]:
        parsed = Ether(p.frame)
        layer = parsed.payload
        while layer:
            for name in ("chksum", "len"):
                if name in layer.fields:
                    del layer.fields[name]
            layer = layer.payload
        assert bytes(parsed) == p.frame, f"frame {p.index + 1}"


def test_tcp_sequence_numbers_continue_and_acks_acknowledge_sent_data(
    observed: list[Observed],
) -> None:
    for o in observed:
        if o.entry.transport != "tcp":
            continue
        from_orig = {p.index for p in o.orig.packets}
        next_seq: dict[bool, int] = {}
        last_ack: dict[bool, int] = {}
        for p in o.packets:
            tcp, mine, where = p.ip.data, p.index in from_orig, (o.entry, p.index)
            # No gaps and no retransmissions: each segment starts where the last one ended.
            assert tcp.seq == next_seq.setdefault(mine, tcp.seq), where
            consumed = len(tcp.data) + bool(tcp.flags & SYN) + bool(tcp.flags & FIN)
            next_seq[mine] = (tcp.seq + consumed) & MASK
            if tcp.flags & ACK:
                # Never acknowledge more than the peer sent (RFC 9293 3.10.7.4), never less than
                # before.
                assert _not_after(tcp.ack, next_seq[not mine]), where
                assert _not_after(last_ack.get(mine, tcp.ack), tcp.ack), where
                last_ack[mine] = tcp.ack


def _not_after(a: int, b: int) -> bool:
    """``a <= b`` in sequence-number arithmetic (RFC 9293 3.4)."""
    return (b - a) & MASK < 1 << 31

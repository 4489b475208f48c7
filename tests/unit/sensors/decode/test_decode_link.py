"""Link layers: every link type the decoder supports, and what sits between them and IP."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.dot11 import Dot11, Dot11QoS, RadioTap
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import (
    ARP,
    LLC,
    SNAP,
    CookedLinux,
    CookedLinuxV2,
    Dot1AD,
    Dot1Q,
    Dot3,
    Ether,
)
from scapy.layers.ppp import PPP, PPPoE
from sensorkit import decode, mapped, row, v6_halves

from sensors.decode import weird as W
from sensors.sources import linktype as lt

MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
IP4 = bytes(IP(src="192.0.2.1", dst="198.51.100.2") / UDP(sport=1111, dport=2222) / b"hello")
IP6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=40000, dport=443, flags="S"))
SNAP_IP4 = bytes(LLC() / SNAP(code=0x0800)) + IP4


def _expect_ip4(out: object, *, vlan: int = 0, depth: int = 0) -> None:
    r = row(out, 0)  # type: ignore[arg-type]
    assert r["is_v6"] is False
    assert (r["src_hi"], r["src_lo"]) == (0, mapped("192.0.2.1"))
    assert (r["dst_hi"], r["dst_lo"]) == (0, mapped("198.51.100.2"))
    assert (r["proto"], r["sport"], r["dport"]) == (17, 1111, 2222)
    assert (r["ip_len"], r["payload_len"], r["payload_cap"]) == (33, 5, 5)
    assert r["vlan"] == vlan
    assert r["depth"] == depth


def _expect_ip6(out: object) -> None:
    r = row(out, 0)  # type: ignore[arg-type]
    assert r["is_v6"] is True
    assert (r["src_hi"], r["src_lo"]) == v6_halves("2001:db8::1")
    assert (r["dst_hi"], r["dst_lo"]) == v6_halves("2001:db8::2")
    assert (r["proto"], r["sport"], r["dport"], r["tcp_flags"]) == (6, 40000, 443, 0x02)
    assert (r["ip_len"], r["payload_len"]) == (60, 0)


# Each case: frame bytes, link type, offset of the IP header within the frame.
IP4_CASES: dict[str, tuple[bytes, int, int]] = {
    "ethernet": (bytes(Ether(**MAC, type=0x0800)) + IP4, lt.ETHERNET, 14),
    "pppoe": (bytes(PPPoE(sessionid=7) / PPP(proto=0x0021)) + IP4, lt.PPP_ETHER, 8),
    "ppp-with-address-control": (b"\xff\x03\x00\x21" + IP4, lt.PPP, 4),
    "ppp-compressed": (b"\x00\x21" + IP4, lt.PPP, 2),
    "linux-sll": (bytes(CookedLinux(proto=0x0800)) + IP4, lt.LINUX_SLL, 16),
    "linux-sll-llc": (bytes(CookedLinux(proto=0x0004)) + SNAP_IP4, lt.LINUX_SLL, 24),
    "linux-sll2": (bytes(CookedLinuxV2(proto=0x0800)) + IP4, lt.LINUX_SLL2, 20),
    "null-little-endian": (b"\x02\x00\x00\x00" + IP4, lt.NULL, 4),
    "null-big-endian": (b"\x00\x00\x00\x02" + IP4, lt.NULL, 4),
    "loop": (b"\x00\x00\x00\x02" + IP4, lt.LOOP, 4),
    "raw": (IP4, lt.RAW, 0),
    "raw-12": (IP4, lt.RAW_ALT, 0),
    "raw-14": (IP4, lt.RAW_OPENBSD, 0),
    "ipv4": (IP4, lt.IPV4, 0),
    "cisco-hdlc": (b"\x0f\x00\x08\x00" + IP4, lt.CHDLC, 4),
    "fddi": (b"\x50" + b"\x01" * 6 + b"\x02" * 6 + SNAP_IP4, lt.FDDI, 21),
    "ieee802.11": (bytes(Dot11(type=2, subtype=0)) + SNAP_IP4, lt.IEEE802_11, 32),
    "ieee802.11-4addr": (bytes(Dot11(type=2, subtype=0, FCfield=3)) + SNAP_IP4, 105, 38),
    "ieee802.11-qos": (bytes(Dot11(type=2, subtype=8) / Dot11QoS()) + SNAP_IP4, 105, 34),
    "ieee802.11-qos-htc": (
        bytes(Dot11(type=2, subtype=8, FCfield=0x80) / Dot11QoS()) + b"\x00" * 4 + SNAP_IP4,
        105,
        38,
    ),
    "radiotap": (
        bytes(RadioTap() / Dot11(type=2, subtype=0)) + SNAP_IP4,
        lt.IEEE802_11_RADIOTAP,
        40,
    ),
    "ethernet-802.3-snap": (bytes(Dot3(**MAC, len=len(SNAP_IP4))) + SNAP_IP4, lt.ETHERNET, 22),
    "ethernet-pppoe": (bytes(Ether(**MAC) / PPPoE(sessionid=1) / PPP(proto=0x21)) + IP4, 1, 22),
    "ethernet-mpls": (bytes(Ether(**MAC) / MPLS(label=5, s=0) / MPLS(label=6, s=1)) + IP4, 1, 22),
    "ethernet-vntag": (bytes(Ether(**MAC, type=0x8926)) + b"\x00\x01\x00\x02\x08\x00" + IP4, 1, 20),
    "ethernet-pbb": (
        bytes(Ether(**MAC, type=0x88E7))
        + b"\x00\x00\x00\x2a"
        + bytes(Ether(**MAC, type=0x0800))
        + IP4,
        1,
        32,
    ),
    "ethernet-fabricpath": (
        b"\x03" * 12 + b"\x89\x03" + b"\x00\x00" + bytes(Ether(**MAC, type=0x0800)) + IP4,
        1,
        30,
    ),
}


@pytest.mark.parametrize("name", sorted(IP4_CASES))
def test_ipv4_over_each_link_layer(name: str) -> None:
    frame, link, ip_at = IP4_CASES[name]
    out, dec = decode([frame], link)
    assert len(out) == 1
    _expect_ip4(out)
    assert row(out)["payload_off"] == ip_at + 28
    assert sum(dec.stats.weird.values()) == 0
    assert sum(dec.stats.other.values()) == 0


IP6_CASES: dict[str, tuple[bytes, int]] = {
    "ethernet": (bytes(Ether(**MAC, type=0x86DD)) + IP6, lt.ETHERNET),
    "raw": (IP6, lt.RAW),
    "ipv6": (IP6, lt.IPV6),
    "null-24": (b"\x18\x00\x00\x00" + IP6, lt.NULL),
    "null-28": (b"\x1c\x00\x00\x00" + IP6, lt.NULL),
    "null-30-big-endian": (b"\x00\x00\x00\x1e" + IP6, lt.NULL),
    "loop": (b"\x00\x00\x00\x18" + IP6, lt.LOOP),
    "linux-sll2": (bytes(CookedLinuxV2(proto=0x86DD)) + IP6, lt.LINUX_SLL2),
    "ppp": (b"\x00\x57" + IP6, lt.PPP),
    "mpls": (bytes(Ether(**MAC) / MPLS(label=1, s=1)) + IP6, lt.ETHERNET),
}


@pytest.mark.parametrize("name", sorted(IP6_CASES))
def test_ipv6_over_link_layers(name: str) -> None:
    frame, link = IP6_CASES[name]
    out, dec = decode([frame], link)
    assert len(out) == 1
    _expect_ip6(out)
    assert sum(dec.stats.weird.values()) == 0


def _nflog(family: int, tlvs: list[tuple[int, bytes]]) -> bytes:
    out = bytes([family, 0]) + b"\x00\x00"
    for kind, value in tlvs:
        length = 4 + len(value)
        out += struct.pack("<HH", length, kind) + value + b"\x00" * (-length % 4)
    return out


def test_nflog_finds_the_payload_tlv_among_others() -> None:
    prefix = (10, b"nflog-prefix\x00")  # NFULA_PREFIX, padded to 4 bytes
    frame = _nflog(2, [(1, b"\x08\x00\x01\x00"), prefix, (9, IP4), (11, b"\x00" * 4)])
    out, dec = decode([frame], lt.NFLOG)
    assert len(out) == 1
    _expect_ip4(out)
    assert sum(dec.stats.weird.values()) == 0


def test_nflog_ipv6() -> None:
    out, _ = decode([_nflog(10, [(9, IP6)])], lt.NFLOG)
    _expect_ip6(out)


def test_nflog_without_payload_is_truncated() -> None:
    out, dec = decode([_nflog(2, [(10, b"abcd")]), _nflog(7, [(9, IP4)])], lt.NFLOG)
    assert len(out) == 0
    assert dec.stats.weird == {W.TRUNCATED_LINK_HEADER: 2}


def test_nflog_payload_stops_at_its_tlv() -> None:
    # Bytes after the payload TLV are not part of the IP packet (the IP length says 33).
    frame = _nflog(2, [(9, IP4 + b"\x00\x00\x00")])
    out, _ = decode([frame], lt.NFLOG)
    assert row(out)["ip_len"] == 33


def test_dot1q_vlan_id() -> None:
    out, _ = decode([bytes(Ether(**MAC) / Dot1Q(vlan=100, prio=5, type=0x0800)) + IP4])
    _expect_ip4(out, vlan=100)


@pytest.mark.parametrize("outer_type", [0x88A8, 0x8100, 0x9100, 0x9200])
def test_qinq_keeps_outer_and_inner_ids(outer_type: int) -> None:
    frame = (
        bytes(
            Ether(**MAC, type=outer_type)
            / Dot1AD(vlan=10, type=0x8100)
            / Dot1Q(vlan=20, type=0x0800)
        )
        + IP4
    )
    out, _ = decode([frame])
    _expect_ip4(out, vlan=(10 << 12) | 20)


def test_vlan_id_is_twelve_bits_without_priority_and_dei() -> None:
    frame = bytes(Ether(**MAC) / Dot1Q(vlan=0xFFF, prio=7, dei=1, type=0x0800)) + IP4
    out, _ = decode([frame])
    assert row(out)["vlan"] == 0xFFF


def test_mpls_label_stack() -> None:
    labels = MPLS(label=16, s=0) / MPLS(label=17, s=0) / MPLS(label=18, s=1)
    out, _ = decode([bytes(Ether(**MAC) / labels) + IP4])
    _expect_ip4(out)


def test_ethernet_padding_is_not_payload() -> None:
    frame = bytes(Ether(**MAC, type=0x0800)) + IP4 + b"\x00" * 13  # padded to 60 bytes
    out, _ = decode([frame])
    _expect_ip4(out)


def test_arp_and_other_non_ip_are_counted_not_weird() -> None:
    frames = [
        bytes(Ether(**MAC) / ARP()),
        bytes(Ether(**MAC, type=0x88CC)) + b"\x00" * 30,  # LLDP
        bytes(Dot3(**MAC, len=3) / LLC(dsap=0x42, ssap=0x42, ctrl=3)) + b"\x00" * 40,  # STP
    ]
    out, dec = decode(frames)
    assert len(out) == 0
    assert dec.stats.other == {W.ARP: 1, W.NON_IP: 2}
    assert sum(dec.stats.weird.values()) == 0


def test_ieee802_11_frames_that_carry_no_ip() -> None:
    frames = [
        bytes(Dot11(type=0, subtype=8)) + b"\x00" * 20,  # beacon
        bytes(Dot11(type=2, subtype=4)),  # null data
        bytes(Dot11(type=2, subtype=0, FCfield=0x40)) + b"\x00" * 40,  # protected
    ]
    out, dec = decode(frames, lt.IEEE802_11)
    assert len(out) == 0
    assert dec.stats.other == {W.NON_IP: 2, W.ENCRYPTED_802_11: 1}


def test_unsupported_link_type_is_weird() -> None:
    out, dec = decode([IP4, IP4], [147, lt.RAW])
    assert len(out) == 1
    assert row(out)["row"] == 1
    assert dec.stats.weird == {W.UNSUPPORTED_LINK_TYPE: 1}


def test_mixed_link_types_in_one_batch_keep_capture_order() -> None:
    frames = [
        bytes(Ether(**MAC, type=0x0800)) + IP4,
        IP6,
        b"\x02\x00\x00\x00" + IP4,
        bytes(CookedLinux(proto=0x86DD)) + IP6,
    ]
    out, _ = decode(frames, [lt.ETHERNET, lt.RAW, lt.NULL, lt.LINUX_SLL])
    assert out["row"].tolist() == [0, 1, 2, 3]
    assert out["is_v6"].tolist() == [False, True, False, True]
    assert out["proto"].tolist() == [17, 6, 17, 6]

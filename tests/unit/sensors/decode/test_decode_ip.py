"""IPv4 (with options) and IPv6 (with extension headers): addresses, lengths, where L4 starts."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP, IPOption_NOP, IPOption_RR, IPOption_Timestamp
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.ipsec import AH
from sensorkit import decode, mapped, row, v6_halves

from sensors.sources import linktype as lt

V6 = {"src": "2001:db8:1::10", "dst": "fe80::1"}


def _ah(nh: int, icv: int, spi: int = 0x100) -> AH:
    """AH with its length and next header filled in (scapy leaves them zero)."""
    return AH(nh=nh, payloadlen=(12 + icv) // 4 - 2, spi=spi, seq=1, icv=b"\x00" * icv)


def test_ipv4_fields() -> None:
    pkt = (
        IP(src="10.1.2.3", dst="172.16.254.1", ttl=3)
        / TCP(sport=5555, dport=22, flags="PA", seq=0xDEADBEEF, ack=0x01020304)
        / (b"x" * 100)
    )
    out, _ = decode([bytes(pkt)], lt.RAW)
    r = row(out)
    assert (r["src_hi"], r["src_lo"], r["dst_lo"]) == (
        0,
        mapped("10.1.2.3"),
        mapped("172.16.254.1"),
    )
    assert (r["proto"], r["sport"], r["dport"], r["tcp_flags"]) == (6, 5555, 22, 0x18)
    assert (r["tcp_seq"], r["tcp_ack"]) == (0xDEADBEEF, 0x01020304)
    assert (r["ip_len"], r["payload_off"], r["payload_len"]) == (140, 40, 100)


@pytest.mark.parametrize(
    "options",
    [
        [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()],
        [IPOption_RR(routers=["1.1.1.1", "2.2.2.2"])],
        [IPOption_Timestamp(flg=0, timestamp=[1, 2, 3])],
    ],
)
def test_ipv4_options_are_skipped(options: list[object]) -> None:
    pkt = IP(src="10.0.0.1", dst="10.0.0.2", options=options) / UDP(sport=7, dport=9) / b"abc"
    raw = bytes(pkt)
    ihl = (raw[0] & 0x0F) * 4
    assert ihl > 20
    out, _ = decode([raw], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"]) == (17, 7, 9)
    assert (r["payload_off"], r["payload_len"], r["ip_len"]) == (ihl + 8, 3, len(raw))


def test_ipv4_maximum_header_length() -> None:
    pkt = IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_NOP()] * 40) / UDP(sport=1, dport=2)
    raw = bytes(pkt)
    assert raw[0] == 0x4F  # IHL 15: 60 bytes
    out, _ = decode([raw], lt.RAW)
    assert row(out)["payload_off"] == 68


def test_ipv6_fields() -> None:
    pkt = IPv6(**V6, nh=17, hlim=1) / UDP(sport=546, dport=547) / (b"q" * 10)
    out, _ = decode([bytes(pkt)], lt.RAW)
    r = row(out)
    assert (r["src_hi"], r["src_lo"]) == v6_halves("2001:db8:1::10")
    assert (r["dst_hi"], r["dst_lo"]) == v6_halves("fe80::1")
    assert (r["proto"], r["sport"], r["dport"]) == (17, 546, 547)
    assert (r["ip_len"], r["payload_off"], r["payload_len"]) == (58, 48, 10)


EXT_CHAINS = {
    "hop-by-hop": IPv6ExtHdrHopByHop(),
    "routing": IPv6ExtHdrRouting(addresses=["2001:db8::a", "2001:db8::b"]),
    "dest-opts": IPv6ExtHdrDestOpt(),
    "ah": _ah(6, 12),
    "atomic-fragment": IPv6ExtHdrFragment(offset=0, m=0, id=99),
    "all": IPv6ExtHdrHopByHop()
    / IPv6ExtHdrDestOpt()
    / IPv6ExtHdrRouting(addresses=["2001:db8::a"])
    / _ah(60, 4)
    / IPv6ExtHdrDestOpt(),
}


@pytest.mark.parametrize("name", sorted(EXT_CHAINS))
def test_ipv6_extension_headers_are_walked(name: str) -> None:
    ext = EXT_CHAINS[name]
    pkt = IPv6(**V6) / ext / TCP(sport=1000, dport=80, flags="S") / b"hi"
    raw = bytes(pkt)
    ext_len = len(bytes(ext))
    out, dec = decode([raw], lt.RAW)
    assert len(out) == 1
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"], r["tcp_flags"]) == (6, 1000, 80, 0x02)
    assert (r["payload_off"], r["payload_len"]) == (40 + ext_len + 20, 2)
    assert r["ip_len"] == len(raw)
    assert sum(dec.stats.weird.values()) == 0


def test_ipv6_ah_length_is_in_four_octet_units() -> None:
    # AH: (payload length + 2) * 4 bytes (RFC 4302), unlike the other headers' 8-octet units.
    ah = _ah(17, 16)  # 12 + 16 = 28 bytes: not a multiple of 8
    raw = bytes(IPv6(**V6) / ah / UDP(sport=1, dport=2))
    assert raw[41] == 28 // 4 - 2
    out, _ = decode([raw], lt.RAW)
    assert (row(out)["proto"], row(out)["payload_off"]) == (17, 40 + 28 + 8)


def test_ipv4_ah_is_a_transport_row() -> None:
    # On IPv4, AH is carried like a transport protocol (we do not walk it there, like Zeek).
    raw = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / _ah(17, 4) / UDP())
    out, _ = decode([raw], lt.RAW)
    assert (row(out)["proto"], row(out)["sport"], row(out)["dport"]) == (51, 0, 0)


def test_esp_and_no_next_header_are_portless_rows() -> None:
    esp = bytes(IPv6(**V6, nh=50) / (b"\x00\x00\x01\x00" + b"\x00" * 20))
    none = bytes(IPv6(**V6, nh=59))
    out, _ = decode([esp, none], lt.RAW)
    assert out["proto"].tolist() == [50, 59]
    assert out["sport"].tolist() == [0, 0]
    assert out["payload_len"].tolist() == [24, 0]


def test_ipv6_zero_payload_length_takes_the_frame_length() -> None:
    raw = bytearray(bytes(IPv6(**V6) / UDP(sport=1, dport=2) / b"abcd"))
    raw[4:6] = b"\x00\x00"  # jumbogram or segmentation offload
    out, dec = decode([bytes(raw)], lt.RAW)
    assert (row(out)["ip_len"], row(out)["payload_len"]) == (52, 4)
    assert sum(dec.stats.weird.values()) == 0


def test_snap_length_cut_packet_still_counts_its_wire_length() -> None:
    raw = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / (b"z" * 1000))
    from sensorkit import make_batch

    from sensors.decode import Decoder

    batch = make_batch([raw[:80]], lt.RAW, wirelen=[len(raw)])
    dec = Decoder()
    out = dec.decode(batch)
    r = row(out)
    assert (r["ip_len"], r["payload_len"], r["payload_cap"]) == (1040, 1000, 40)
    assert sum(dec.stats.weird.values()) == 0

"""Transport headers: TCP, UDP, SCTP, and ICMP/ICMPv6 types as Community ID port equivalents."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6Unknown, IPv6
from scapy.layers.sctp import SCTP, SCTPChunkData
from sensorkit import decode, row

from cityshield.ids import ICMP4_COUNTERPART, ICMP6_COUNTERPART
from sensors.decode import weird as W
from sensors.sources import linktype as lt

V4 = {"src": "10.0.0.1", "dst": "10.0.0.2"}
V6 = {"src": "2001:db8::1", "dst": "2001:db8::2"}


def test_tcp_header_with_options() -> None:
    tcp = TCP(
        sport=49152,
        dport=443,
        flags="SE",
        seq=1,
        options=[
            ("MSS", 1460),
            ("NOP", None),
            ("WScale", 7),
            ("SAckOK", b""),
            ("Timestamp", (1, 0)),
        ],
    )
    raw = bytes(IP(**V4) / tcp / b"data")
    doff = (raw[32] >> 4) * 4
    assert doff > 20
    out, _ = decode([raw], lt.RAW)
    r = row(out)
    assert (r["sport"], r["dport"], r["tcp_flags"], r["tcp_seq"]) == (49152, 443, 0x42, 1)
    assert (r["payload_off"], r["payload_len"]) == (20 + doff, 4)


@pytest.mark.parametrize(
    ("flags", "value"),
    [
        ("S", 0x02),
        ("SA", 0x12),
        ("A", 0x10),
        ("FA", 0x11),
        ("R", 0x04),
        ("RA", 0x14),
        ("FSRPAUEC", 0xFF),
        ("", 0x00),
    ],
)
def test_tcp_flags_byte(flags: str, value: int) -> None:
    out, _ = decode([bytes(IP(**V4) / TCP(flags=flags))], lt.RAW)
    assert row(out)["tcp_flags"] == value


def test_udp() -> None:
    out, _ = decode([bytes(IPv6(**V6) / UDP(sport=5353, dport=5353) / (b"m" * 30))], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"], r["payload_len"], r["tcp_flags"]) == (
        17,
        5353,
        5353,
        30,
        0,
    )


def test_sctp_ports_and_chunks_as_payload() -> None:
    sctp = SCTP(sport=2905, dport=2906, tag=1) / SCTPChunkData(data=b"x" * 8)
    raw = bytes(IP(**V4) / sctp)
    out, _ = decode([raw], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"]) == (132, 2905, 2906)
    assert (r["payload_off"], r["payload_len"]) == (32, len(raw) - 32)


@pytest.mark.parametrize(("icmp_type", "counterpart"), sorted(ICMP4_COUNTERPART.items()))
def test_icmp_two_way_types(icmp_type: int, counterpart: int) -> None:
    out, _ = decode([bytes(IP(**V4) / ICMP(type=icmp_type, code=5))], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"]) == (1, icmp_type, counterpart)


@pytest.mark.parametrize(
    ("icmp_type", "code"), [(3, 1), (3, 13), (11, 0), (5, 2), (4, 0), (255, 9)]
)
def test_icmp_one_way_types_use_the_code(icmp_type: int, code: int) -> None:
    out, _ = decode([bytes(IP(**V4) / ICMP(type=icmp_type, code=code))], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"]) == (1, icmp_type, code)


@pytest.mark.parametrize(("icmp_type", "counterpart"), sorted(ICMP6_COUNTERPART.items()))
def test_icmp6_two_way_types(icmp_type: int, counterpart: int) -> None:
    raw = bytes(IPv6(**V6) / ICMPv6Unknown(type=icmp_type, code=3, msgbody=b"\x00" * 4))
    out, _ = decode([raw], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"]) == (58, icmp_type, counterpart)


@pytest.mark.parametrize(("icmp_type", "code"), [(1, 4), (2, 0), (3, 1), (4, 2), (137, 0)])
def test_icmp6_one_way_types_use_the_code(icmp_type: int, code: int) -> None:
    raw = bytes(IPv6(**V6) / ICMPv6Unknown(type=icmp_type, code=code, msgbody=b"\x00" * 4))
    out, _ = decode([raw], lt.RAW)
    assert (row(out)["sport"], row(out)["dport"]) == (icmp_type, code)


def test_icmp_echo_both_directions_share_ports_reversed() -> None:
    req = bytes(IPv6(**V6) / ICMPv6EchoRequest(id=1, seq=1, data=b"ping"))
    rep = bytes(IPv6(src=V6["dst"], dst=V6["src"]) / ICMPv6EchoReply(id=1, seq=1, data=b"ping"))
    out, _ = decode([req, rep], lt.RAW)
    assert out["sport"].tolist() == [128, 129]
    assert out["dport"].tolist() == [129, 128]
    assert out["payload_len"].tolist() == [4, 4]  # after the 8-byte echo header


def test_icmp_payload_after_eight_bytes() -> None:
    raw = bytes(IP(**V4) / ICMP(type=8) / (b"p" * 56))
    out, _ = decode([raw], lt.RAW)
    assert (row(out)["payload_off"], row(out)["payload_len"]) == (28, 56)


def test_unknown_protocol_has_no_ports() -> None:
    raw = bytes(IP(**V4, proto=200) / b"\x01\x02\x03\x04\x05\x06")
    out, dec = decode([raw], lt.RAW)
    r = row(out)
    assert (r["proto"], r["sport"], r["dport"], r["payload_off"], r["payload_len"]) == (
        200,
        0,
        0,
        20,
        6,
    )
    assert sum(dec.stats.weird.values()) == 0


def test_bad_tcp_data_offset_is_counted_but_kept() -> None:
    raw = bytearray(bytes(IP(**V4) / TCP(sport=1, dport=2) / b"abcd"))
    raw[32] = 0x30  # data offset 12 bytes: less than the fixed header
    out, dec = decode([bytes(raw)], lt.RAW)
    assert len(out) == 1
    assert (row(out)["sport"], row(out)["payload_len"]) == (1, 0)
    assert dec.stats.weird[W.BAD_TCP_HEADER_LENGTH] == 1

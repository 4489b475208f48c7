"""Tunnels: IP-in-IP, 6in4, GRE (key, sequence, checksum, PPTP), ERSPAN II/III, VXLAN, Geneve,
GRE-in-UDP, Teredo, AYIYA, GTP-U; nesting and the depth limit."""

from __future__ import annotations

import struct

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from sensorkit import decode, mapped, row, v6_halves

from sensors.decode import DecodeSettings
from sensors.decode import weird as W
from sensors.sources import linktype as lt

OUTER = {"src": "203.0.113.1", "dst": "203.0.113.2"}
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
INNER4 = IP(src="10.9.8.7", dst="10.9.8.6") / TCP(sport=3333, dport=80, flags="S") / b"inner"
INNER6 = IPv6(src="2001:db8::a", dst="2001:db8::b") / UDP(sport=5000, dport=53) / b"q6"


def _inner4(r: dict[str, int], depth: int) -> None:
    assert (r["src_lo"], r["dst_lo"]) == (mapped("10.9.8.7"), mapped("10.9.8.6"))
    assert (r["proto"], r["sport"], r["dport"], r["tcp_flags"]) == (6, 3333, 80, 0x02)
    assert (r["ip_len"], r["payload_len"]) == (45, 5)
    assert r["depth"] == depth


def _inner6(r: dict[str, int], depth: int) -> None:
    assert (r["src_hi"], r["src_lo"]) == v6_halves("2001:db8::a")
    assert (r["proto"], r["sport"], r["dport"], r["payload_len"]) == (17, 5000, 53, 2)
    assert r["depth"] == depth


def _rows(out: object) -> list[dict[str, int]]:
    return [row(out, i) for i in range(len(out))]  # type: ignore[arg-type]


def test_ip_in_ip_gives_only_the_inner_row() -> None:
    out, dec = decode([bytes(IP(**OUTER, proto=4) / INNER4)], lt.RAW)
    (r,) = _rows(out)
    _inner4(r, depth=1)
    assert sum(dec.stats.weird.values()) == 0


def test_6in4() -> None:
    out, _ = decode([bytes(IP(**OUTER, proto=41) / INNER6)], lt.RAW)
    (r,) = _rows(out)
    _inner6(r, depth=1)
    assert r["is_v6"] is True


def test_4in6() -> None:
    outer = IPv6(src="2001:db8:ffff::1", dst="2001:db8:ffff::2", nh=4)
    out, _ = decode([bytes(outer / INNER4)], lt.RAW)
    (r,) = _rows(out)
    _inner4(r, depth=1)


@pytest.mark.parametrize(
    "gre",
    [
        GRE(proto=0x0800),
        GRE(proto=0x0800, key_present=1, key=0xABCD),
        GRE(proto=0x0800, seqnum_present=1, sequence_number=77),
        GRE(proto=0x0800, chksum_present=1),
        GRE(proto=0x0800, chksum_present=1, key_present=1, key=1, seqnum_present=1),
    ],
    ids=["plain", "key", "seq", "checksum", "all"],
)
def test_gre_optional_fields(gre: GRE) -> None:
    raw = bytes(IP(**OUTER) / gre / INNER4)
    out, dec = decode([raw], lt.RAW)
    (r,) = _rows(out)
    _inner4(r, depth=1)
    assert r["payload_off"] == len(raw) - 5
    assert sum(dec.stats.weird.values()) == 0


def test_gre_ipv6_and_transparent_ethernet() -> None:
    frames = [
        bytes(IP(**OUTER) / GRE(proto=0x86DD) / INNER6),
        bytes(
            IP(**OUTER)
            / GRE(proto=0x6558)
            / Ether(**MAC, type=0x8100)
            / Dot1Q(vlan=33, type=0x0800)
            / INNER4
        ),
    ]
    out, _ = decode(frames, lt.RAW)
    r6, r4 = _rows(out)
    _inner6(r6, depth=1)
    _inner4(r4, depth=1)
    assert r4["vlan"] == 33


def test_pptp_enhanced_gre_with_ppp() -> None:
    # Version 1 (RFC 2637): K and S set, A set: 16 bytes, then PPP with address and control.
    gre = struct.pack("!HHHHII", 0x3081, 0x880B, 45, 7, 1, 2)
    ppp = b"\xff\x03\x00\x21"
    raw = bytes(IP(**OUTER, proto=47) / (gre + ppp + bytes(INNER4)))
    out, dec = decode([raw], lt.RAW)
    (r,) = _rows(out)
    _inner4(r, depth=1)
    assert sum(dec.stats.weird.values()) == 0


def test_gre_source_routing_and_unknown_versions_are_not_decapsulated() -> None:
    frames = [
        bytes(IP(**OUTER) / GRE(proto=0x0800, routing_present=1)) + bytes(INNER4),
        bytes(IP(**OUTER) / GRE(proto=0x0800, version=2)) + bytes(INNER4),
        bytes(IP(**OUTER) / GRE(proto=0x1234)) + bytes(INNER4),
    ]
    frames = [bytes(IP(f)) for f in frames]
    out, dec = decode(frames, lt.RAW)
    assert len(out) == 0
    assert dec.stats.other == {"gre_unsupported": 2, "gre_unknown_protocol": 1}


def test_erspan_type_i_ii_iii() -> None:
    eth = Ether(**MAC, type=0x0800) / INNER4
    frames = [
        bytes(IP(**OUTER) / GRE(proto=0x88BE) / eth),  # type I: no ERSPAN header
        bytes(IP(**OUTER) / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(session_id=5) / eth),
        bytes(IP(**OUTER) / GRE(proto=0x22EB, seqnum_present=1) / ERSPAN_III(o=0) / eth),
        bytes(
            IP(**OUTER)
            / GRE(proto=0x22EB, seqnum_present=1)
            / ERSPAN_III(o=1)
            / ERSPAN_PlatformSpecific()
            / eth
        ),
    ]
    out, dec = decode(frames, lt.RAW)
    rows = _rows(out)
    assert [r["row"] for r in rows] == [0, 1, 2, 3]
    for r in rows:
        _inner4(r, depth=1)
    assert sum(dec.stats.weird.values()) == 0


def test_vxlan_keeps_outer_row_and_resets_vlan() -> None:
    inner = Ether(**MAC, type=0x8100) / Dot1Q(vlan=7, type=0x0800) / INNER4
    frame = (
        Ether(**MAC, type=0x8100)
        / Dot1Q(vlan=100, type=0x0800)
        / IP(**OUTER)
        / UDP(sport=49999, dport=4789)
        / VXLAN(vni=4242)
        / inner
    )
    out, _ = decode([bytes(frame)], lt.ETHERNET)
    outer, r = _rows(out)
    assert (outer["proto"], outer["dport"], outer["vlan"], outer["depth"]) == (17, 4789, 100, 0)
    assert outer["src_lo"] == mapped("203.0.113.1")
    _inner4(r, depth=1)
    assert r["vlan"] == 7


def test_vxlan_without_the_i_flag_is_just_udp() -> None:
    frame = IP(**OUTER) / UDP(sport=1, dport=4789) / VXLAN(flags=0) / Ether(**MAC) / INNER4
    out, _ = decode([bytes(frame)], lt.RAW)
    assert len(out) == 1
    assert row(out)["dport"] == 4789


@pytest.mark.parametrize(
    ("proto", "inner"),
    [(0x6558, Ether(**MAC, type=0x0800) / INNER4), (0x0800, INNER4), (0x86DD, INNER6)],
    ids=["ethernet", "ipv4", "ipv6"],
)
def test_geneve_with_options(proto: int, inner: object) -> None:
    opts = GeneveOptions(classid=0x0102, type=3, length=2, data=b"\x00" * 8)
    gen = GENEVE(vni=9, proto=proto, options=[opts])
    raw = bytes(IP(**OUTER) / UDP(sport=40000, dport=6081) / gen / inner)  # type: ignore[operator]
    assert raw[28] & 0x3F == 3  # option length: 3 words
    out, dec = decode([raw], lt.RAW)
    outer, r = _rows(out)
    assert outer["dport"] == 6081
    if proto == 0x86DD:
        _inner6(r, depth=1)
    else:
        _inner4(r, depth=1)
    assert sum(dec.stats.weird.values()) == 0


def test_gre_in_udp() -> None:
    raw = bytes(IP(**OUTER) / UDP(sport=40000, dport=4754) / GRE(proto=0x0800) / INNER4)
    out, _ = decode([raw], lt.RAW)
    outer, r = _rows(out)
    assert outer["dport"] == 4754
    _inner4(r, depth=1)


def _teredo(prefix: bytes, sport: int = 3544) -> bytes:
    return bytes(IP(**OUTER) / UDP(sport=sport, dport=51000) / (prefix + bytes(INNER6)))


def test_teredo_plain_with_origin_and_with_authentication() -> None:
    origin = b"\x00\x00" + struct.pack("!H", 0xFFFF ^ 3544) + bytes(4)
    auth = b"\x00\x01\x03\x02" + b"cli" + b"au" + bytes(8) + b"\x00"
    frames = [_teredo(b""), _teredo(origin), _teredo(auth + origin), _teredo(b"", sport=7)]
    frames[3] = bytes(IP(**OUTER) / UDP(sport=7, dport=3544) / INNER6)
    out, _ = decode(frames, lt.RAW)
    rows = _rows(out)
    assert [r["row"] for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    for outer, inner in zip(rows[::2], rows[1::2], strict=True):
        assert outer["proto"] == 17
        _inner6(inner, depth=1)


def test_teredo_needs_an_exact_ipv6_length_and_skips_bubbles() -> None:
    # The IPv6 payload length no longer matches the datagram.
    bad_len = bytes(IP(**OUTER) / UDP(sport=3544, dport=1) / (bytes(INNER6) + b"\x00"))
    bubble = bytes(IP(**OUTER) / UDP(sport=3544, dport=1) / IPv6(src="::1", dst="::2", nh=59))
    out, _ = decode([bad_len, bubble], lt.RAW)
    assert [r["depth"] for r in _rows(out)] == [0, 0]


def _ayiya(next_header: int, inner: bytes, opcode: int = 1) -> bytes:
    # Identity length 2**4 = 16 bytes, signature length 5 words = 20 bytes (SHA-1).
    head = bytes([0x41, 0x52, 0x10 | opcode, next_header]) + struct.pack("!I", 1_700_000_000)
    return head + b"i" * 16 + b"s" * 20 + inner


def test_ayiya() -> None:
    frames = [
        bytes(IP(**OUTER) / UDP(sport=5072, dport=5072) / _ayiya(41, bytes(INNER6))),
        bytes(IP(**OUTER) / UDP(sport=5072, dport=5072) / _ayiya(4, bytes(INNER4))),
        bytes(IP(**OUTER) / UDP(sport=5072, dport=5072) / _ayiya(4, bytes(INNER4), opcode=2)),
    ]
    out, _ = decode(frames, lt.RAW)
    rows = _rows(out)
    assert [r["depth"] for r in rows] == [0, 1, 0, 1, 0]
    _inner6(rows[1], depth=1)
    _inner4(rows[3], depth=1)


def test_gtp_u_plain_and_with_extension_header() -> None:
    plain = GTP_U_Header(teid=0x1234, gtp_type=255) / INNER4
    ext = (
        GTP_U_Header(teid=1, gtp_type=255, E=1, next_ex=0x85)
        / GTPPDUSessionContainer(type=1, QFI=9)
        / INNER6
    )
    frames = [bytes(IP(**OUTER) / UDP(sport=2152, dport=2152) / g) for g in (plain, ext)]
    out, dec = decode(frames, lt.RAW)
    rows = _rows(out)
    assert [r["depth"] for r in rows] == [0, 1, 0, 1]
    _inner4(rows[1], depth=1)
    _inner6(rows[3], depth=1)
    assert sum(dec.stats.weird.values()) == 0


def test_gtp_u_signalling_messages_are_not_decapsulated() -> None:
    echo = GTP_U_Header(teid=0, gtp_type=1) / (b"\x00" * 4)
    out, _ = decode([bytes(IP(**OUTER) / UDP(sport=2152, dport=2152) / echo)], lt.RAW)
    assert [r["depth"] for r in _rows(out)] == [0]


def _nest(levels: int) -> bytes:
    """INNER4 wrapped in ``levels`` tunnels: alternately IP-in-IP, GRE and VXLAN."""
    pkt: object = INNER4
    for i in range(levels):
        kind = i % 3
        if kind == 0:
            pkt = IP(**OUTER, proto=4) / pkt  # type: ignore[operator]
        elif kind == 1:
            pkt = IP(**OUTER) / GRE(proto=0x0800) / pkt  # type: ignore[operator]
        else:
            pkt = IP(**OUTER) / UDP(sport=1, dport=4789) / VXLAN(vni=i) / Ether(**MAC) / pkt  # type: ignore[operator]
    return bytes(pkt)  # type: ignore[call-overload]


def test_nested_tunnels_up_to_the_limit() -> None:
    out, dec = decode([_nest(3)], lt.RAW)
    rows = _rows(out)
    # VXLAN (outermost) keeps its UDP row at depth 0; GRE and IP-in-IP give no rows.
    assert [(r["proto"], r["depth"]) for r in rows] == [(17, 0), (6, 3)]
    _inner4(rows[-1], depth=3)
    assert sum(dec.stats.weird.values()) == 0


def test_tunnel_depth_limit_is_counted() -> None:
    out, dec = decode([_nest(4)], lt.RAW)
    assert dec.stats.weird == {W.TUNNEL_DEPTH_EXCEEDED: 1}
    # Outermost first: IP-in-IP, VXLAN (its UDP row at depth 1), GRE, then the fourth tunnel
    # (IP-in-IP at depth 3) is not entered: its carrier is reported as it is.
    assert [(r["proto"], r["depth"]) for r in _rows(out)] == [(17, 1), (4, 3)]


@pytest.mark.parametrize("limit", [0, 1, 2])
def test_tunnel_depth_setting(limit: int) -> None:
    raw = bytes(
        IP(**OUTER)
        / UDP(sport=1, dport=4789)
        / VXLAN()
        / Ether(**MAC)
        / IP(**OUTER)
        / UDP(sport=1, dport=4789)
        / VXLAN()
        / Ether(**MAC)
        / INNER4
    )
    out, dec = decode([raw], lt.RAW, settings=DecodeSettings(max_tunnel_depth=limit))
    assert [r["depth"] for r in _rows(out)] == [0, 1, 2][: limit + 1]
    assert dec.stats.weird.get(W.TUNNEL_DEPTH_EXCEEDED, 0) == (1 if limit < 2 else 0)

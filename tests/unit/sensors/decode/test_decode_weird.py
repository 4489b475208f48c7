"""A packet (or a few) for every weird name: counted once, sampled with its frame, not raised."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from sensorkit import SEC, make_batch

from sensors.decode import Decoder, DecodeSettings, FragmentSettings
from sensors.decode import weird as W
from sensors.events import WeirdSeen
from sensors.sources import linktype as lt

A = {"src": "10.0.0.1", "dst": "10.0.0.2"}
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
ETH_IP4 = bytes(Ether(**MAC, type=0x0800))


def _ip(proto: int, body: bytes, *, total: int | None = None, first: int = 0x45) -> bytes:
    head = bytearray(bytes(IP(**A, proto=proto) / body))
    head[0] = first
    if total is not None:
        head[2:4] = struct.pack("!H", total)
    return bytes(head)


def _frag(offset: int, more: bool, data: bytes, ident: int = 1) -> bytes:
    flags = "MF" if more else 0
    return bytes(IP(**A, id=ident, proto=17, frag=offset // 8, flags=flags) / data)


def _nested_vxlan(levels: int) -> bytes:
    pkt: object = IP(**A) / TCP()
    for _ in range(levels):
        pkt = IP(**A) / UDP(sport=1, dport=4789) / VXLAN() / Ether(**MAC) / pkt  # type: ignore[operator]
    return bytes(pkt)  # type: ignore[call-overload]


Case = tuple[list[bytes], int | list[int], DecodeSettings | None, list[int] | None]

# name -> frames, link type(s), settings, timestamps. The weird packet is the last frame.
CASES: dict[str, Callable[[], Case]] = {
    W.TRUNCATED_LINK_HEADER: lambda: ([ETH_IP4[:10]], lt.ETHERNET, None, None),
    W.UNSUPPORTED_LINK_TYPE: lambda: ([b"\x00" * 40], 147, None, None),
    W.TRUNCATED_IP_HEADER: lambda: ([ETH_IP4 + bytes(IP(**A))[:12]], lt.ETHERNET, None, None),
    W.BAD_IP_VERSION: lambda: ([b"\x55" + bytes(19)], lt.RAW, None, None),
    W.BAD_IP_HEADER_LENGTH: lambda: ([_ip(17, bytes(UDP()), first=0x44)], lt.RAW, None, None),
    W.TRUNCATED_IP: lambda: ([_ip(17, bytes(UDP()), total=29)], lt.RAW, None, None),
    W.IP_HDR_LEN_ZERO: lambda: ([_ip(17, bytes(UDP()), total=0)], lt.RAW, None, None),
    W.BAD_IP_LENGTH: lambda: ([_ip(17, bytes(UDP()), total=19)], lt.RAW, None, None),
    W.TRUNCATED_IPV6_EXT_HEADER: lambda: (
        [bytes(IPv6(nh=60, plen=4)) + b"\x11\x00\x00\x00"],
        lt.RAW,
        None,
        None,
    ),
    W.TOO_MANY_IPV6_EXT_HEADERS: lambda: (
        [bytes(IPv6() / _dest_chain(17))],  # type: ignore[operator]
        lt.RAW,
        None,
        None,
    ),
    W.TRUNCATED_TCP_HEADER: lambda: ([_ip(6, bytes(TCP())[:12])], lt.RAW, None, None),
    W.BAD_TCP_HEADER_LENGTH: lambda: (
        [_ip(6, b"\x00" * 12 + b"\x40" + b"\x00" * 7)],
        lt.RAW,
        None,
        None,
    ),
    W.TRUNCATED_UDP_HEADER: lambda: ([_ip(17, b"\x00\x01\x00\x02")], lt.RAW, None, None),
    W.TRUNCATED_ICMP_HEADER: lambda: ([_ip(1, b"\x08\x00")], lt.RAW, None, None),
    W.TRUNCATED_SCTP_HEADER: lambda: ([_ip(132, b"\x00" * 8)], lt.RAW, None, None),
    W.TRUNCATED_TUNNEL_HEADER: lambda: ([_ip(47, b"\x20\x00")], lt.RAW, None, None),
    W.TUNNEL_DEPTH_EXCEEDED: lambda: (
        [_nested_vxlan(2)],
        lt.RAW,
        DecodeSettings(max_tunnel_depth=1),
        None,
    ),
    W.DECODE_DEPTH_EXCEEDED: lambda: (
        [bytes(Ether(**MAC) / _mpls_stack(40) / IP(**A) / UDP())],  # type: ignore[operator]
        lt.ETHERNET,
        None,
        None,
    ),
    W.TOO_MANY_VLAN_TAGS: lambda: (
        [
            bytes(
                Ether(**MAC, type=0x88A8)
                / Dot1AD(vlan=1, type=0x8100)
                / Dot1Q(vlan=2, type=0x8100)
                / Dot1Q(vlan=3, type=0x0800)
                / IP(**A)
                / UDP()
            )
        ],
        lt.ETHERNET,
        None,
        None,
    ),
    W.FRAGMENT_OVERLAP: lambda: (
        [_frag(0, True, b"a" * 16), _frag(8, True, b"a" * 8)],
        lt.RAW,
        None,
        None,
    ),
    W.FRAGMENT_INCONSISTENCY: lambda: (
        [_frag(0, True, b"a" * 16), _frag(8, True, b"b" * 8)],
        lt.RAW,
        None,
        None,
    ),
    W.FRAGMENT_BUDGET_EXCEEDED: lambda: (
        [_frag(0, True, b"x" * 8, ident=i) for i in range(17)],
        lt.RAW,
        DecodeSettings(fragments=FragmentSettings(max_datagrams=16)),
        None,
    ),
    W.FRAGMENT_TIMEOUT: lambda: (
        [_frag(0, True, b"x" * 8), _frag(8, True, b"y" * 8)],
        lt.RAW,
        None,
        [0, 31 * SEC],
    ),
    W.EXCESSIVELY_LARGE_FRAGMENT: lambda: ([_frag(65_528, False, b"z" * 16)], lt.RAW, None, None),
    W.BAD_FRAGMENT: lambda: ([_frag(0, True, b"z" * 12)], lt.RAW, None, None),
}


def _dest_chain(n: int) -> object:
    pkt: object = UDP()
    for _ in range(n):
        pkt = IPv6ExtHdrDestOpt() / pkt  # type: ignore[operator]
    return pkt


def _mpls_stack(n: int) -> object:
    pkt: object = MPLS(label=99, s=1)
    for _ in range(n - 1):
        pkt = MPLS(label=1, s=0) / pkt  # type: ignore[operator]
    return pkt


def _weird_names() -> set[str]:
    skip = {W.NON_IP, W.ARP, W.ENCRYPTED_802_11}  # counted under "other", not weird
    return {v for k, v in vars(W).items() if k.isupper() and isinstance(v, str) and v not in skip}


def test_every_weird_name_has_a_case() -> None:
    assert set(CASES) == _weird_names()


@pytest.mark.parametrize("name", sorted(CASES))
def test_weird_is_counted_once_and_sampled(name: str) -> None:
    frames, link, settings, ts = CASES[name]()
    dec = Decoder(settings)
    batch = make_batch(frames, link, ts, first_frame=100, capture="weird.pcap")
    dec.decode(batch)
    assert dec.stats.weird == {name: 1}
    last = 100 + len(frames) - 1
    # A fragment timeout is blamed on the fragment that found its datagram expired.
    assert dec.stats.take_new_samples() == [WeirdSeen(name, "weird.pcap", last)]
    assert dec.stats.take_new_samples() == []


def test_weird_packets_do_not_stop_the_others() -> None:
    good = bytes(IP(**A) / UDP(sport=1, dport=2))
    frames = [good]
    links: list[int] = [lt.RAW]
    for name in sorted(CASES):
        if name == W.FRAGMENT_TIMEOUT:
            continue
        f, link, _, _ = CASES[name]()
        frames += f
        links += [link] * len(f) if isinstance(link, int) else link
    frames.append(good)
    links.append(lt.RAW)
    dec = Decoder()
    out = dec.decode(make_batch(frames, links))
    rows = out["row"].tolist()
    assert rows[0] == 0
    assert rows[-1] == len(frames) - 1


def test_samples_are_bounded_per_kind() -> None:
    dec = Decoder(DecodeSettings(weird_samples_per_kind=2))
    frames = [b"\x55" + bytes(19)] * 5
    dec.decode(make_batch(frames, lt.RAW, first_frame=10, capture="c"))
    dec.decode(make_batch(frames, lt.RAW, first_frame=15, capture="c"))
    assert dec.stats.weird == {W.BAD_IP_VERSION: 10}
    assert dec.stats.samples == [
        WeirdSeen(W.BAD_IP_VERSION, "c", 10),
        WeirdSeen(W.BAD_IP_VERSION, "c", 11),
    ]


def test_fragment_timeout_between_batches_is_counted_without_a_sample() -> None:
    dec = Decoder()
    dec.decode(make_batch([_frag(0, True, b"x" * 8)], lt.RAW, [0]))
    dec.decode(make_batch([bytes(IP(**A) / UDP())], lt.RAW, [31 * SEC]))
    assert dec.stats.weird == {W.FRAGMENT_TIMEOUT: 1}
    assert dec.stats.samples == []
    assert len(dec.reassembler) == 0


def test_ip_hdr_len_zero_is_still_decoded() -> None:
    frame = _ip(17, bytes(UDP(sport=5, dport=6)) + b"abc", total=0)
    dec = Decoder()
    out = dec.decode(make_batch([frame], lt.RAW))
    assert (out["sport"].tolist(), out["payload_len"].tolist()) == ([5], [3])


def test_too_many_vlan_tags_still_decoded_with_the_two_innermost_ids() -> None:
    frames, _, _, _ = CASES[W.TOO_MANY_VLAN_TAGS]()
    dec = Decoder()
    out = dec.decode(make_batch(frames, lt.ETHERNET))
    assert out["vlan"].tolist() == [(2 << 12) | 3]

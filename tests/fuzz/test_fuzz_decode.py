"""Fuzz the decoder: every link type's first layer with random bytes and with mutated valid
packets (tunnels, fragments, extension headers), one packet and many per batch."""

from __future__ import annotations

import struct

import pytest
from fuzzkit import FUZZ, batch, check_decoded, edits, mutate
from hypothesis import given
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.layers.sctp import SCTP
from scapy.layers.vxlan import VXLAN

from sensors.decode import Decoder, DecodeSettings, FragmentSettings
from sensors.decode.decoder import FIRST_LAYER
from sensors.sources import linktype as lt

INNER = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="S") / b"data"
INNER6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=53) / b"q"
IP_SEEDS = [
    bytes(INNER),
    bytes(INNER6),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / ICMP(type=3, code=1) / bytes(INNER)[:28]),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / SCTP(sport=1, dport=2)),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2", proto=4) / INNER),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / GRE(proto=0x0800, key_present=1) / INNER),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / GRE(proto=0x6558) / Ether() / INNER),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=9, dport=4789) / VXLAN() / Ether() / INNER),
    bytes(
        IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=9, dport=6081) / GENEVE(proto=0x0800) / INNER
    ),
    bytes(
        IP(src="1.1.1.1", dst="2.2.2.2")
        / UDP(sport=2152, dport=2152)
        / GTP_U_Header(gtp_type=255)
        / INNER
    ),
    bytes(IP(src="1.1.1.1", dst="2.2.2.2") / UDP(sport=3544, dport=9) / INNER6),
    bytes(IPv6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / TCP()),
    bytes(IPv6() / IPv6ExtHdrFragment(m=1, id=5) / UDP() / (b"z" * 16)),
    *[bytes(f) for f in fragment(IP(dst="3.3.3.3") / UDP() / (b"f" * 100), fragsize=32)],
]
LINK_PREFIX: dict[int, bytes] = {
    lt.ETHERNET: bytes(Ether(type=0x0800)),
    lt.NULL: b"\x02\x00\x00\x00",
    lt.LOOP: b"\x00\x00\x00\x02",
    lt.RAW: b"",
    lt.RAW_ALT: b"",
    lt.RAW_OPENBSD: b"",
    lt.IPV4: b"",
    lt.IPV6: b"",
    lt.LINUX_SLL: b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00",
    lt.LINUX_SLL2: b"\x08\x00\x00\x00" + b"\x00" * 16,
    lt.PPP: b"\xff\x03\x00\x21",
    lt.PPP_ETHER: b"\x11\x00\x00\x01\x00\x00\x00\x21",
    lt.IEEE802_11: b"\x08\x00" + b"\x00" * 22 + b"\xaa\xaa\x03\x00\x00\x00\x08\x00",
    lt.IEEE802_11_RADIOTAP: b"\x00\x00\x08\x00\x00\x00\x00\x00\x08\x00"
    + b"\x00" * 22
    + b"\xaa\xaa\x03\x00\x00\x00\x08\x00",
    lt.NFLOG: b"\x02\x00\x00\x00",  # the payload TLV is added per seed
    lt.CHDLC: b"\x0f\x00\x08\x00",
    lt.FDDI: b"\x50" + b"\x00" * 12 + b"\xaa\xaa\x03\x00\x00\x00\x08\x00",
}
assert set(LINK_PREFIX) == set(FIRST_LAYER)
STACKED = [
    bytes(
        Ether() / Dot1Q(vlan=1, type=0x8100) / Dot1Q(vlan=2, type=0x8100) / Dot1Q(vlan=3) / INNER
    ),
    bytes(Ether() / MPLS(s=0) / MPLS(s=1) / INNER),
]


def _seed(link: int, ip: bytes) -> bytes:
    if link == lt.NFLOG:
        return LINK_PREFIX[link] + struct.pack("<HH", 4 + len(ip), 9) + ip
    if link == lt.ETHERNET and ip[0] >> 4 == 6:
        return bytes(Ether(type=0x86DD)) + ip
    return LINK_PREFIX[link] + ip


def _decode_one(frame: bytes, link: int, *, wire: int | None = None) -> None:
    dec = Decoder(DecodeSettings(fragments=FragmentSettings(max_bytes=65_536, max_datagrams=16)))
    b = batch([frame], [link], wirelen=None if wire is None else [wire])
    out = dec.decode(b)
    check_decoded(out, b)
    assert len(out) <= 1 + dec.settings.max_tunnel_depth
    assert dec.reassembler.held_bytes <= 65_536


@pytest.mark.parametrize("link", sorted(FIRST_LAYER))
@FUZZ
@given(st.binary(max_size=256))
def test_random_bytes_at_each_first_layer(link: int, data: bytes) -> None:
    _decode_one(data, link)


@pytest.mark.parametrize("link", sorted(FIRST_LAYER))
@FUZZ
@given(st.sampled_from(IP_SEEDS), edits, st.one_of(st.none(), st.integers(0, 200)))
def test_mutated_packets_at_each_first_layer(
    link: int, ip: bytes, changes: list[tuple[int, int]], cut: int | None
) -> None:
    frame = _seed(link, ip)
    _decode_one(mutate(frame, changes, cut), link)


@FUZZ
@given(st.sampled_from(STACKED + IP_SEEDS), edits, st.integers(0, 3000))
def test_snap_length_cut_frames(frame: bytes, changes: list[tuple[int, int]], extra: int) -> None:
    mutated = mutate(frame, changes, None)
    _decode_one(mutated, lt.ETHERNET if frame in STACKED else lt.RAW, wire=len(mutated) + extra)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*sorted(FIRST_LAYER), 147]),
            st.one_of(st.binary(max_size=120), st.sampled_from(IP_SEEDS)),
            edits,
        ),
        min_size=1,
        max_size=30,
    ),
    st.lists(st.integers(0, 40_000_000_000), min_size=30, max_size=30),
)
def test_batches_of_mixed_link_types(
    packets: list[tuple[int, bytes, list[tuple[int, int]]]], times: list[int]
) -> None:
    dec = Decoder(DecodeSettings(fragments=FragmentSettings(max_bytes=65_536, max_datagrams=16)))
    frames = [mutate(data, changes, None) for _, data, changes in packets]
    links = [link for link, _, _ in packets]
    for half in (0, 1):  # twice, so that fragments and timeouts meet state from a batch before
        b = batch(frames, links, times[: len(frames)], first_frame=1 + half * len(frames))
        out = dec.decode(b)
        check_decoded(out, b)
        assert dec.reassembler.held_bytes <= 65_536
        assert len(dec.reassembler) <= 16
    samples = dec.stats.take_new_samples()
    assert all(1 <= s.frame <= 2 * len(frames) for s in samples)

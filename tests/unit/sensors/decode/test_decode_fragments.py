"""IP fragment reassembly: order, overlaps (first wins), duplicates, timeouts and budgets."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, UDP, fragment
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, fragment6
from sensorkit import SEC, decode, mapped, row, v6_halves

from sensors.decode import DecodedPackets, Decoder, DecodeSettings, FragmentSettings
from sensors.decode import weird as W
from sensors.decode.fragments import FragmentKey, FragmentReassembler
from sensors.sources import linktype as lt

PAYLOAD = bytes(range(256)) * 12  # 3072 bytes
DGRAM = IP(src="192.0.2.10", dst="192.0.2.20", id=0x4242) / UDP(sport=1234, dport=5678) / PAYLOAD
KEY: FragmentKey = (False, b"\x01\x02\x03\x04", b"\x05\x06\x07\x08", 1, 17)
HDR = b"H" * 20


def _frags(size: int = 1000) -> list[bytes]:
    return [bytes(f) for f in fragment(DGRAM, fragsize=size)]


def _payload(out: DecodedPackets, i: int = 0) -> bytes:
    off, n = int(out["payload_off"][i]), int(out["payload_len"][i])
    return out.data[off : off + n].tobytes()


def _expect_whole(out: DecodedPackets, *, row_index: int) -> None:
    assert len(out) == 1
    r = row(out)
    assert r["row"] == row_index
    assert (r["src_lo"], r["dst_lo"]) == (mapped("192.0.2.10"), mapped("192.0.2.20"))
    assert (r["proto"], r["sport"], r["dport"]) == (17, 1234, 5678)
    assert (r["ip_len"], r["payload_len"]) == (20 + 8 + len(PAYLOAD), len(PAYLOAD))
    assert _payload(out) == PAYLOAD


def test_ipv4_in_order() -> None:
    frags = _frags()
    assert len(frags) == 4
    out, dec = decode(frags, lt.RAW)
    _expect_whole(out, row_index=3)
    assert dec.reassembler.reassembled == 1
    assert len(dec.reassembler) == 0
    assert dec.reassembler.held_bytes == 0
    assert sum(dec.stats.weird.values()) == 0


def test_ipv4_out_of_order() -> None:
    frags = _frags()
    order = [2, 0, 3, 1]
    out, dec = decode([frags[i] for i in order], lt.RAW)
    _expect_whole(out, row_index=3)
    assert sum(dec.stats.weird.values()) == 0


def test_ipv4_fragments_across_batches() -> None:
    dec = Decoder()
    frags = _frags()
    outs = [decode([f], lt.RAW, decoder=dec, ts_ns=[i * 1000])[0] for i, f in enumerate(frags)]
    assert [len(o) for o in outs] == [0, 0, 0, 1]
    _expect_whole(outs[-1], row_index=0)


def test_interleaved_datagrams_with_the_same_id_but_other_hosts() -> None:
    other = IP(src="192.0.2.99", dst="192.0.2.20", id=0x4242) / UDP(sport=1, dport=2) / PAYLOAD
    a, b = _frags(), [bytes(f) for f in fragment(other, fragsize=1000)]
    out, _ = decode([x for pair in zip(a, b, strict=True) for x in pair], lt.RAW)
    assert out["row"].tolist() == [6, 7]
    assert out["sport"].tolist() == [1234, 1]


def test_duplicate_fragment_is_an_overlap() -> None:
    frags = _frags()
    out, dec = decode([frags[0], frags[1], frags[1], frags[2], frags[3]], lt.RAW)
    _expect_whole(out, row_index=4)
    assert dec.stats.weird == {W.FRAGMENT_OVERLAP: 1}


def _raw_fragment(offset: int, more: bool, data: bytes, ident: int = 7) -> bytes:
    pkt = (
        IP(
            src="10.0.0.1",
            dst="10.0.0.2",
            id=ident,
            proto=17,
            frag=offset // 8,
            flags="MF" if more else 0,
        )
        / data
    )
    return bytes(pkt)


UDP_HDR = bytes(UDP(sport=9, dport=10, len=8 + 24, chksum=0))


def test_overlap_with_identical_data() -> None:
    data = UDP_HDR + b"A" * 24  # 32 bytes of IP payload
    frames = [
        _raw_fragment(0, True, data[:16]),
        _raw_fragment(8, True, data[8:24]),  # overlaps bytes 8-15 with the same data
        _raw_fragment(24, False, data[24:]),
    ]
    out, dec = decode(frames, lt.RAW)
    assert len(out) == 1
    assert _payload(out) == b"A" * 24
    assert dec.stats.weird == {W.FRAGMENT_OVERLAP: 1}


def test_overlap_with_different_data_first_wins() -> None:
    first = UDP_HDR + b"A" * 24
    frames = [
        _raw_fragment(0, True, first[:24]),
        _raw_fragment(16, True, b"B" * 16),  # bytes 16-23 differ from what was held
        _raw_fragment(32, False, b""),
    ]
    out, dec = decode(frames, lt.RAW)
    assert len(out) == 1
    assert _payload(out) == b"A" * 16 + b"B" * 8
    assert dec.stats.weird == {W.FRAGMENT_INCONSISTENCY: 1}


def test_later_fragment_covering_a_hole_and_more() -> None:
    first = UDP_HDR + b"A" * 8
    frames = [
        _raw_fragment(0, True, first),  # 0-15
        _raw_fragment(24, False, b"C" * 8),  # 24-31
        _raw_fragment(8, True, b"x" * 24),  # 8-31: only 16-23 is new
    ]
    out, dec = decode(frames, lt.RAW)
    assert _payload(out) == b"A" * 8 + b"x" * 8 + b"C" * 8
    assert dec.stats.weird == {W.FRAGMENT_INCONSISTENCY: 2}


def test_two_last_fragments_that_disagree() -> None:
    frames = [
        _raw_fragment(16, False, b"1" * 16),  # ends at 32
        _raw_fragment(16, False, b"2" * 8),  # ends at 24: inconsistent
        _raw_fragment(0, True, UDP_HDR + b"0" * 8),
    ]
    out, dec = decode(frames, lt.RAW)
    assert _payload(out) == b"0" * 8 + b"1" * 16
    assert dec.stats.weird[W.FRAGMENT_INCONSISTENCY] >= 1


def test_fragment_past_the_known_end_is_not_part_of_the_datagram() -> None:
    frames = [
        _raw_fragment(16, False, b"E" * 8),  # the last fragment: the datagram is 24 bytes
        _raw_fragment(32, True, b"Z" * 8),  # past the end
        _raw_fragment(0, True, bytes(UDP(sport=9, dport=10, len=24, chksum=0)) + b"S" * 8),
    ]
    out, dec = decode(frames, lt.RAW)
    assert len(out) == 1
    assert (row(out)["ip_len"], _payload(out)) == (44, b"S" * 8 + b"E" * 8)
    assert dec.stats.weird == {W.FRAGMENT_INCONSISTENCY: 1}


def test_timeout_expiry() -> None:
    frags = _frags()
    dec = Decoder(DecodeSettings(fragments=FragmentSettings(timeout_seconds=30)))
    decode(frags[:2], lt.RAW, decoder=dec, ts_ns=[0, 1 * SEC])
    assert len(dec.reassembler) == 1
    # Still within 30 s of the first fragment: kept.
    decode([bytes(IP() / UDP())], lt.RAW, decoder=dec, ts_ns=[30 * SEC])
    assert len(dec.reassembler) == 1
    assert W.FRAGMENT_TIMEOUT not in dec.stats.weird
    out, _ = decode(frags[2:], lt.RAW, decoder=dec, ts_ns=[31 * SEC, 31 * SEC])
    assert dec.stats.weird[W.FRAGMENT_TIMEOUT] == 1
    assert len(out) == 0  # the early fragments are gone: nothing to reassemble
    assert dec.reassembler.reassembled == 0


def test_datagram_count_budget_evicts_the_oldest() -> None:
    settings = DecodeSettings(fragments=FragmentSettings(max_datagrams=16))
    frames = [_raw_fragment(0, True, b"a" * 16, ident=i) for i in range(20)]
    out, dec = decode(frames, lt.RAW, settings=settings)
    assert len(out) == 0
    assert len(dec.reassembler) == 16
    assert dec.stats.weird == {W.FRAGMENT_BUDGET_EXCEEDED: 4}
    # The four oldest went: completing datagram 0 is impossible, datagram 19 still works.
    last = [_raw_fragment(16, False, b"b" * 8, ident=i) for i in (0, 19)]
    done, _ = decode(last, lt.RAW, decoder=dec)
    assert done["row"].tolist() == [1]
    assert dec.reassembler.reassembled == 1


def test_byte_budget_holds_when_the_oldest_datagram_grows() -> None:
    r = FragmentReassembler(FragmentSettings(max_bytes=65_536))
    key_b: FragmentKey = (False, b"b", b"b", 2, 17)
    r.add(KEY, ts_ns=0, start=0, more=True, payload=b"A" * 60_000, header=HDR)
    r.add(key_b, ts_ns=0, start=0, more=True, payload=b"B" * 5_000, header=HDR)
    _, weird = r.add(KEY, ts_ns=1, start=60_000, more=True, payload=b"C" * 1_000, header=None)
    assert r.held_bytes <= 65_536
    assert weird == [W.FRAGMENT_BUDGET_EXCEEDED]
    assert len(r) == 1  # the other, newer datagram was dropped
    assert r.held_bytes == 61_000


def test_fragments_per_datagram_budget() -> None:
    r = FragmentReassembler(FragmentSettings(max_fragments_per_datagram=4))
    for i in range(4):
        assert r.add(KEY, ts_ns=0, start=16 * i, more=True, payload=b"x" * 8, header=HDR)[1] == []
    done, weird = r.add(KEY, ts_ns=0, start=100 * 8, more=True, payload=b"y" * 8, header=None)
    assert (done, weird) == (None, [W.FRAGMENT_BUDGET_EXCEEDED])
    assert len(r) == 0
    assert r.held_bytes == 0


def test_excessively_large_fragment() -> None:
    r = FragmentReassembler()
    done, weird = r.add(KEY, ts_ns=0, start=65_528, more=False, payload=b"z" * 16, header=None)
    assert (done, weird) == (None, [W.EXCESSIVELY_LARGE_FRAGMENT])
    assert len(r) == 0


def test_non_final_fragment_off_an_eight_byte_boundary() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, ts_ns=0, start=0, more=True, payload=b"z" * 12, header=HDR) == (
        None,
        [W.BAD_FRAGMENT],
    )


def test_reassembler_returns_header_and_payload() -> None:
    r = FragmentReassembler()
    assert r.add(KEY, ts_ns=0, start=8, more=False, payload=b"2" * 3, header=None) == (None, [])
    done, weird = r.add(KEY, ts_ns=0, start=0, more=True, payload=b"1" * 8, header=HDR)
    assert done == (HDR, b"1" * 8 + b"2" * 3)
    assert weird == []
    assert (len(r), r.held_bytes, r.reassembled) == (0, 0, 1)


def test_ipv6_fragments_in_and_out_of_order() -> None:
    dgram = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrFragment(id=0x1234)
        / UDP(sport=4000, dport=4001)
        / PAYLOAD
    )
    frags = [bytes(f) for f in fragment6(dgram, 1280)]
    assert len(frags) == 3
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        out, dec = decode([frags[i] for i in order], lt.RAW)
        assert len(out) == 1
        r = row(out)
        assert (r["src_hi"], r["src_lo"]) == v6_halves("2001:db8::1")
        assert (r["proto"], r["sport"], r["dport"]) == (17, 4000, 4001)
        assert (r["ip_len"], r["payload_len"]) == (40 + 8 + len(PAYLOAD), len(PAYLOAD))
        assert _payload(out) == PAYLOAD
        assert sum(dec.stats.weird.values()) == 0


def test_ipv6_fragments_after_a_hop_by_hop_header() -> None:
    dgram = (
        IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrFragment(id=9)
        / UDP(sport=1, dport=2)
        / PAYLOAD
    )
    frags = [bytes(f) for f in fragment6(dgram, 1280)]
    out, _ = decode(frags, lt.RAW)
    assert len(out) == 1
    assert (row(out)["proto"], row(out)["payload_len"]) == (17, len(PAYLOAD))
    assert _payload(out) == PAYLOAD


def test_ipv6_atomic_fragment_is_a_whole_datagram() -> None:
    raw = bytes(IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(id=1, m=0, offset=0) / UDP() / b"a")
    out, dec = decode([raw], lt.RAW)
    assert (row(out)["proto"], row(out)["payload_len"]) == (17, 1)
    assert len(dec.reassembler) == 0


@pytest.mark.parametrize("cut", [True, False])
def test_fragment_cut_by_the_snap_length_is_bad(cut: bool) -> None:
    from sensorkit import make_batch

    frag = _frags()[0]
    dec = Decoder()
    size = 100 if cut else len(frag)
    dec.decode(make_batch([frag[:size]], lt.RAW, wirelen=[len(frag)]))
    assert dec.stats.weird.get(W.BAD_FRAGMENT, 0) == int(cut)
    assert len(dec.reassembler) == 1 - int(cut)

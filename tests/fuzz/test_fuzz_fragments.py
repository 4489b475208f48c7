"""Fuzz the fragment reassembler: random fragment streams stay within every budget, and any
arrangement of a datagram's fragments gives back the datagram (first data wins on overlaps)."""

from __future__ import annotations

from itertools import pairwise

from fuzzkit import FUZZ, batch, check_decoded
from hypothesis import given
from hypothesis import strategies as st
from scapy.layers.inet import IP, UDP, fragment

from sensors.decode import Decoder, DecodeSettings, FragmentSettings
from sensors.decode.fragments import FragmentKey, FragmentReassembler
from sensors.sources import linktype as lt

SETTINGS = FragmentSettings(
    max_bytes=65_536, max_datagrams=16, max_fragments_per_datagram=8, timeout_seconds=1.0
)
KEYS: list[FragmentKey] = [(i % 2 == 0, bytes([i]), b"d", i % 3, 17) for i in range(24)]

fragment_op = st.tuples(
    st.sampled_from(KEYS),
    st.integers(0, 3_000_000_000),  # time, ns (out of order too)
    st.one_of(st.integers(0, 8191).map(lambda x: x * 8), st.integers(0, 70_000)),  # offset
    st.booleans(),  # more fragments
    st.one_of(st.integers(0, 64).map(lambda x: x * 8), st.integers(0, 30_000)),  # length
    st.booleans(),  # carries a header (only used at offset 0)
)


@FUZZ
@given(st.lists(fragment_op, max_size=80))
def test_random_fragment_streams_stay_within_budgets(
    ops: list[tuple[FragmentKey, int, int, bool, int, bool]],
) -> None:
    r = FragmentReassembler(SETTINGS)
    for key, ts, start, more, length, has_header in ops:
        payload = bytes([length % 251]) * length
        header = b"H" * 20 if has_header else None
        done, weird = r.add(key, ts_ns=ts, start=start, more=more, payload=payload, header=header)
        assert r.held_bytes <= SETTINGS.max_bytes
        assert len(r) <= SETTINGS.max_datagrams
        assert r.held_bytes == sum(d.size for d in r._pending.values())
        assert all(len(d.parts) <= SETTINGS.max_fragments_per_datagram for d in r._pending.values())
        assert all(isinstance(w, str) for w in weird)
        if done is not None:
            head, data = done
            assert head == b"H" * 20
            assert len(data) <= 65_535
            assert key not in r._pending
        r.expire(ts)
        assert r.held_bytes == sum(d.size for d in r._pending.values())


@st.composite
def arranged(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, bool, bytes]]]:
    """A datagram's payload and fragments of it: any cut points, any order, duplicates and
    overlaps (which repeat the datagram's own bytes)."""
    size = draw(st.integers(1, 400))
    payload = draw(st.binary(min_size=size, max_size=size))
    cuts = sorted(draw(st.sets(st.integers(1, (size - 1) // 8), max_size=8)) if size > 8 else [])
    bounds = [0, *(c * 8 for c in cuts), size]
    frags = [(lo, hi == size, payload[lo:hi]) for lo, hi in pairwise(bounds)]
    extra = draw(st.lists(st.sampled_from(range(len(bounds) - 1)), max_size=4))
    for i in extra:  # a duplicate, or an overlap spanning two neighbours (same bytes)
        lo, hi = bounds[i], bounds[min(i + 2, len(bounds) - 1)]
        frags.append((lo, hi == size, payload[lo:hi]))
    return payload, draw(st.permutations(frags))


@FUZZ
@given(arranged())
def test_any_arrangement_reassembles_the_datagram(
    case: tuple[bytes, list[tuple[int, bool, bytes]]],
) -> None:
    payload, frags = case
    r = FragmentReassembler()
    key: FragmentKey = (False, b"s", b"d", 1, 17)
    results = []
    for start, last, data in frags:
        done, weird = r.add(key, ts_ns=0, start=start, more=not last, payload=data,
                            header=b"H" if start == 0 else None)  # fmt: skip
        assert "fragment_inconsistency" not in weird
        if done is not None:
            results.append(done)
    # Complete once every byte arrived; later duplicates start a new (incomplete) datagram.
    assert results[:1] == [(b"H", payload)]


@FUZZ
@given(st.binary(min_size=1, max_size=600), st.integers(8, 64), st.randoms(use_true_random=False))
def test_decoder_reassembles_shuffled_ipv4_fragments(data: bytes, size: int, rnd: object) -> None:
    dgram = IP(src="10.1.1.1", dst="10.2.2.2", id=77) / UDP(sport=1, dport=2) / data
    frags = [bytes(f) for f in fragment(dgram, fragsize=size - size % 8)]
    rnd.shuffle(frags)  # type: ignore[attr-defined]
    dec = Decoder(DecodeSettings(fragments=SETTINGS))
    b = batch(frags, [lt.RAW] * len(frags))
    out = dec.decode(b)
    check_decoded(out, b)
    assert len(out) == 1
    off, n = int(out["payload_off"][0]), int(out["payload_len"][0])
    assert out.data[off : off + n].tobytes() == data
    assert len(dec.reassembler) == 0

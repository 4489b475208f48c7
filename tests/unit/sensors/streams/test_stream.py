"""One direction of a TCP stream: order, retransmissions, overlaps (first wins), gaps, budgets."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.streams.stream import Delivery, Stream

ISN = 4_000_000_000  # close to the wrap at 2**32, on purpose


def stream(**kw: int) -> Stream:
    s = Stream(depth=kw.get("depth", 1 << 20), max_pending=kw.get("max_pending", 1 << 16),
               max_pending_segments=kw.get("max_segments", 64))  # fmt: skip
    s.syn(ISN - 1)
    return s


def feed(s: Stream, segments: list[tuple[int, bytes]], fin_at: int | None = None) -> bytes:
    out: list[Delivery] = []
    for off, data in segments:
        s.add((ISN + off) % (1 << 32), data, fin_at == off, out)
    return b"".join(d.data for d in out)


def test_in_order_bytes_across_the_sequence_wrap() -> None:
    s = stream()
    data = bytes(range(256)) * 1000
    segments = [(i, data[i : i + 1460]) for i in range(0, len(data), 1460)]
    assert feed(s, segments) == data
    assert s.next == len(data)


def test_out_of_order_segments_are_delivered_in_order() -> None:
    s = stream()
    assert feed(s, [(6, b"world "), (12, b"!"), (0, b"hello ")]) == b"hello world !"
    assert s.pending_bytes == 0 and not s.offsets


def test_retransmission_is_delivered_once_and_counted() -> None:
    s = stream()
    assert feed(s, [(0, b"abcdef"), (0, b"abcdef"), (3, b"defghi")]) == b"abcdefghi"
    assert s.retransmitted == 1
    assert s.conflicts == 0


def test_overlap_with_different_bytes_keeps_the_first_and_counts_a_conflict() -> None:
    s = stream()
    got = feed(s, [(0, b"GET /index.html"), (4, b"/evil")])
    assert got == b"GET /index.html"
    assert s.conflicts == 1


def test_conflicting_out_of_order_overlaps_keep_the_first_arrival() -> None:
    s = stream()
    got = feed(s, [(10, b"AAAAA"), (12, b"BBBBBB"), (0, b"0123456789")])
    assert got == b"0123456789AAAAABBB"
    assert s.conflicts == 1


def test_a_hole_that_never_fills_becomes_a_gap_at_close() -> None:
    s = stream()
    out: list[Delivery] = []
    s.add(ISN, b"start", False, out)
    s.add(ISN + 100, b"after the hole", False, out)
    freed = s.close(out)
    assert freed == len(b"after the hole")
    assert [(d.gap, d.data) for d in out] == [(0, b"start"), (95, b"after the hole")]
    assert (s.gaps, s.gap_bytes) == (1, 95)


def test_too_many_waiting_segments_give_up_the_hole() -> None:
    s = stream(max_segments=4)
    out: list[Delivery] = []
    s.add(ISN, b"a", False, out)
    for i in range(1, 7):
        s.add(ISN + 10 * i, b"x", False, out)
    assert s.gaps >= 1
    assert len(s.offsets) <= 4
    assert out[1].gap == 9 and out[1].data == b"x"


def test_depth_stops_the_stream() -> None:
    s = stream(depth=10)
    assert feed(s, [(0, b"0123456789abcdef")]) == b"0123456789"
    assert s.truncated and s.done
    assert feed(s, [(16, b"more")]) == b""


def test_fin_ends_the_stream_once_everything_before_it_arrived() -> None:
    s = stream()
    out: list[Delivery] = []
    s.add(ISN + 5, b"world", True, out)
    assert not s.done
    s.add(ISN, b"hello", False, out)
    assert s.done
    assert b"".join(d.data for d in out) == b"helloworld"


def test_midstream_join_starts_at_the_first_segment_seen() -> None:
    s = Stream(depth=1 << 20, max_pending=1 << 16, max_pending_segments=64)
    out: list[Delivery] = []
    s.add(77, b"mid", False, out)
    s.add(80, b"stream", False, out)
    s.add(70, b"old", False, out)  # before the start we joined at: dropped
    assert b"".join(d.data for d in out) == b"midstream"


@settings(max_examples=150, deadline=None)
@given(
    st.binary(min_size=1, max_size=3000),
    st.lists(st.integers(1, 400), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
    st.booleans(),
)
def test_any_segmentation_and_order_rebuilds_the_stream(
    data: bytes, sizes: list[int], rnd: random.Random, duplicate: bool
) -> None:
    cuts, pos = [], 0
    for size in sizes:
        if pos >= len(data):
            break
        cuts.append((pos, data[pos : pos + size]))
        pos += size
    if pos < len(data):
        cuts.append((pos, data[pos:]))
    if duplicate:
        cuts += rnd.sample(cuts, k=max(1, len(cuts) // 3))
    rnd.shuffle(cuts)
    s = stream(max_segments=len(cuts) + 1, max_pending=len(data) + 1)
    out: list[Delivery] = []
    for off, piece in cuts:
        s.add((ISN + off) % (1 << 32), piece, False, out)
    s.close(out)
    assert b"".join(d.data for d in out) == data
    assert sum(d.gap for d in out) == 0
    assert s.conflicts == 0


def test_a_segment_spanning_waiting_ones_keeps_its_bytes_around_them() -> None:
    s = stream()
    got = feed(s, [(10, b"KKKKK"), (5, b"abcdeKKKKKfghijklmno"), (0, b"01234")])
    assert got == b"01234abcdeKKKKKfghijklmno"
    assert s.conflicts == 0 and s.pending_bytes == 0

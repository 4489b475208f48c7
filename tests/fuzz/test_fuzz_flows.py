"""Fuzz the flow table: random packets (flags, ports, protocols, timestamps), random batches.

Invariants: no exception; the table never holds more than ``max_flows`` after an update and its
index matches it; every decoded packet ends up in exactly one ended flow after ``flush()``.
"""

from __future__ import annotations

import struct
from itertools import pairwise

from fuzzkit import FUZZ, batch
from hypothesis import given
from hypothesis import strategies as st

from sensors.decode import Decoder
from sensors.flows import FlowBatch, FlowSettings, FlowTable
from sensors.sources import linktype as lt

ADDRS4 = [bytes([10, 0, 0, i]) for i in range(1, 5)]
ADDRS6 = [b"\x20\x01\x0d\xb8" + bytes(11) + bytes([i]) for i in range(1, 4)]
PORTS = [0, 53, 80, 443, 1024, 40000, 65535]
SETTINGS = FlowSettings(
    max_flows=16, tcp_idle_timeout=3, udp_idle_timeout=2, icmp_idle_timeout=2,
    other_idle_timeout=2, tcp_close_delay=1, active_timeout=5,
)  # fmt: skip


def _l4(proto: int, sport: int, dport: int, flags: int, payload: bytes) -> bytes:
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 0x50, flags, 1024, 0, 0) + payload
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    if proto in (1, 58):
        return struct.pack("!BBHI", sport & 0xFF, dport & 0xFF, 0, 0) + payload
    if proto == 132:
        return struct.pack("!HHII", sport, dport, 0, 0) + payload
    return payload


def _packet(v6: bool, src: int, dst: int, proto: int, sport: int, dport: int, flags: int,
            size: int) -> bytes:  # fmt: skip
    if v6 and proto == 1:
        proto = 58
    body = _l4(proto, sport, dport, flags, b"\x00" * size)
    if v6:
        return struct.pack("!IHBB", 6 << 28, len(body), proto, 64) + ADDRS6[src % 3] + ADDRS6[
            dst % 3] + body  # fmt: skip
    head = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0)
    return head + ADDRS4[src % 4] + ADDRS4[dst % 4] + body


packet = st.builds(
    _packet,
    st.booleans(),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([6, 6, 6, 17, 17, 1, 132, 50]),
    st.one_of(st.sampled_from(PORTS), st.integers(0, 65535)),
    st.one_of(st.sampled_from(PORTS), st.integers(0, 65535)),
    st.one_of(
        st.sampled_from([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01]), st.integers(0, 255)
    ),
    st.integers(0, 40),
)


def _run(
    packets: list[bytes], times: list[int], cuts: set[int], settings: FlowSettings
) -> tuple[list[FlowBatch], int, FlowTable]:
    dec = Decoder()
    table = FlowTable(settings, seed=11)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(packets)), len(packets)]
    ended: list[FlowBatch] = []
    decoded = 0
    for lo, hi in pairwise(bounds):
        b = batch(packets[lo:hi], [lt.RAW] * (hi - lo), times[lo:hi], first_frame=lo + 1)
        out = dec.decode(b)
        decoded += len(out)
        ended.append(table.update(out, b))
        assert len(table) <= settings.max_flows
        assert len(table.index) == len(table)
        assert int(table.arrays.live.sum()) == len(table)
    ended.append(table.flush())
    assert len(table) == 0
    assert table.index == {}
    return ended, decoded, table


def _check(ended: list[FlowBatch], decoded: int, table: FlowTable, monotonic: bool) -> None:
    flows = FlowBatch.concat(ended)
    rows = flows.rows()
    assert sum(f.orig_pkts + f.resp_pkts for f in rows) == decoded
    assert len(rows) == table.stats.created
    assert sum(table.stats.ended.values()) == len(rows)
    assert all(f.orig_pkts + f.resp_pkts > 0 for f in rows)
    assert all(f.conn_state and f.community_id.startswith("1:") for f in rows)
    assert len({f.flow_id for f in rows}) <= len(rows)
    # Even when time goes backwards, a flow never ends before it started.
    assert all(f.end_ns >= f.start_ns for f in rows)
    if monotonic:
        assert all(f.first_frame <= f.last_frame for f in rows)


@FUZZ
@given(
    st.lists(st.tuples(packet, st.integers(0, 2_500_000_000)), min_size=1, max_size=60),
    st.sets(st.integers(1, 59), max_size=8),
)
def test_monotonic_time(items: list[tuple[bytes, int]], cuts: set[int]) -> None:
    packets = [p for p, _ in items]
    times, t = [], 0
    for _, gap in items:
        t += gap
        times.append(t)
    ended, decoded, table = _run(packets, times, cuts, SETTINGS)
    assert decoded == len(packets)
    _check(ended, decoded, table, monotonic=True)


@FUZZ
@given(
    st.lists(st.tuples(packet, st.integers(0, 20_000_000_000)), min_size=1, max_size=60),
    st.sets(st.integers(1, 59), max_size=8),
)
def test_time_out_of_order(items: list[tuple[bytes, int]], cuts: set[int]) -> None:
    packets = [p for p, _ in items]
    times = [t for _, t in items]
    ended, decoded, table = _run(packets, times, cuts, SETTINGS)
    _check(ended, decoded, table, monotonic=False)


@FUZZ
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=40), st.sets(st.integers(1, 39)))
def test_random_bytes_through_decoder_and_table(frames: list[bytes], cuts: set[int]) -> None:
    times = list(range(0, 1_000_000_000 * len(frames), 1_000_000_000))
    ended, decoded, table = _run(frames, times, cuts, SETTINGS)
    _check(ended, decoded, table, monotonic=True)

"""WindowTable: running sums per key against a plain per-row reference, whatever the batches."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.anomaly.windows import UNSEEN, WindowTable, mix64

W = 1000


def reference(keys: list[int], times: list[int], width: int) -> tuple[list[float], list[float]]:
    """Current-window count and sliding estimate per row, one row at a time."""
    counts: dict[tuple[int, int], int] = {}
    cur, est = [], []
    for k, t in zip(keys, times, strict=True):
        w = t // width
        counts[(k, w)] = counts.get((k, w), 0) + 1
        cur.append(counts[(k, w)])
        est.append(counts[(k, w)] + counts.get((k, w - 1), 0) * (1 - (t - w * width) / width))
    return cur, est


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 40)), min_size=1, max_size=60),
    cut=st.integers(0, 60),
)
def test_sums_match_reference_across_batch_cuts(rows: list[tuple[int, int]], cut: int) -> None:
    keys = [k for k, _ in rows]
    times = sorted(t * 97 for _, t in rows)  # rows in time order, as flows arrive
    table = WindowTable(W, 1, capacity=64)
    k, t = np.array(keys, np.uint64), np.array(times, np.int64)
    ones = np.ones((len(keys), 1))
    parts = [table.update(k[:cut], t[:cut], ones[:cut]), table.update(k[cut:], t[cut:], ones[cut:])]
    cur = np.concatenate([p.current[:, 0] for p in parts])
    est = np.concatenate([p.estimate[:, 0] for p in parts])
    want_cur, want_est = reference(keys, times, W)
    assert cur.tolist() == want_cur
    assert np.allclose(est, want_est)


def test_previous_time_and_gap_columns() -> None:
    table = WindowTable(10_000_000_000, 1, capacity=8, gaps=True)
    keys = np.array([7, 7, 8, 7], np.uint64)
    times = np.array([0, 2_000_000, 3_000_000, 5_000_000], np.int64)
    r = table.update(keys, times, np.ones((4, 1)))
    assert r.previous_time.tolist() == [UNSEEN, 0, UNSEEN, 2_000_000]
    # columns: count, gaps seen, summed gap in ms, summed squared gap
    assert r.current[3].tolist() == [3.0, 2.0, 5.0, 13.0]
    later = table.update(np.array([7], np.uint64), np.array([9_000_000], np.int64), np.ones((1, 1)))
    assert later.previous_time.tolist() == [5_000_000]
    assert later.current[0].tolist() == [4.0, 3.0, 9.0, 29.0]


def test_capacity_is_a_bound_and_evictions_are_counted() -> None:
    table = WindowTable(W, 1, capacity=16)
    for i in range(100):
        table.update(np.array([i], np.uint64), np.array([i], np.int64), np.ones((1, 1)))
    assert len(table) <= 16
    assert table.evicted == 100 - len(table)
    # a batch with more keys than the table holds still gets an answer per row
    many = np.arange(1000, 1100, dtype=np.uint64)
    r = table.update(many, np.full(100, 200, np.int64), np.ones((100, 1)))
    assert r.current[:, 0].tolist() == [1.0] * 100
    assert len(table) <= 16


def test_peek_reads_without_adding() -> None:
    table = WindowTable(W, 1, capacity=8)
    table.update(np.array([1, 1], np.uint64), np.array([100, 200], np.int64), np.ones((2, 1)))
    keys = np.array([1, 2], np.uint64)
    assert table.peek(keys, np.array([300, 300], np.int64))[:, 0].tolist() == [2.0, 0.0]
    assert table.peek(keys, np.array([1500, 1500], np.int64))[:, 0].tolist() == [1.0, 0.0]
    assert table.peek(keys, np.array([300, 300], np.int64))[:, 0].tolist() == [2.0, 0.0]


def test_mix64_separates_columns() -> None:
    a = mix64(np.array([1, 2], np.uint64), np.array([2, 1], np.uint64))
    assert a[0] != a[1]

"""Per-key running sums over a sliding time window, a batch of rows at a time, vectorised.

The window is the sliding-window estimate rate limiters use (Cloudflare, "How we built rate
limiting capable of scaling to millions of domains", 2017): keep each key's sums for the current
tumbling window and the one before, and estimate the last ``width`` as
``previous * (1 - elapsed / width) + current``. Unlike plain tumbling windows, a steady activity
never drops to zero at a window boundary, and it costs two rows of state per key.

State is bounded: at most ``capacity`` keys; when full, the least recently seen keys are dropped
(counted in ``evicted``) so that sprayed spoofed sources cannot grow memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

#: ``previous_time`` of a key never seen before.
UNSEEN = np.iinfo(np.int64).min
_NO_WINDOW = np.iinfo(np.int64).min // 2


def mix64(*parts: npt.NDArray[np.generic]) -> U64:
    """A 64-bit hash of equal-length integer columns (splitmix64's finaliser, chained)."""
    with np.errstate(over="ignore"):
        h = np.full(len(parts[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)
        for p in parts:
            h ^= p.astype(np.uint64, copy=False)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(31)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(29)
    return h


@dataclass(frozen=True, slots=True)
class WindowResult:
    """Per row, in input order: sums of the key's current window up to and including the row,
    the sliding-window estimate, and the time of the key's previous row (``UNSEEN`` if none)."""

    current: F64
    estimate: F64
    previous_time: I64


class WindowTable:
    def __init__(self, width_ns: int, columns: int, capacity: int, *, gaps: bool = False) -> None:
        """``gaps``: add three columns after the given ones, summing over rows that follow an
        earlier row of their key: 1, the gap to that row in milliseconds, and its square."""
        if width_ns <= 0 or capacity < 2:
            raise ValueError("width_ns must be positive and capacity at least 2")
        self.width = width_ns
        self.gaps = gaps
        self.columns = columns + (3 if gaps else 0)
        self.capacity = capacity
        self.evicted = 0
        self._slot_of: dict[int, int] = {}
        self._key = np.zeros(capacity, np.uint64)
        self._window = np.full(capacity, _NO_WINDOW, np.int64)
        self._current = np.zeros((capacity, self.columns), np.float64)
        self._previous = np.zeros((capacity, self.columns), np.float64)
        self._last_time = np.full(capacity, UNSEEN, np.int64)
        self._used = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def update(self, keys: U64, times: I64, values: F64) -> WindowResult:
        """Add rows (``values[i]`` to key ``keys[i]`` at ``times[i]``, times in nanoseconds).

        Rows are taken in the order given for equal keys (give them in time order); a row older
        than its key's state (a long flow that ended late) is counted in its own window without
        changing the state of newer windows.
        """
        n = len(keys)
        half = self.capacity // 2
        if n > half:  # keep room to evict others: never more new keys at once than half
            parts = [
                self.update(keys[i : i + half], times[i : i + half], values[i : i + half])
                for i in range(0, n, half)
            ]
            return WindowResult(
                np.concatenate([p.current for p in parts]),
                np.concatenate([p.estimate for p in parts]),
                np.concatenate([p.previous_time for p in parts]),
            )
        if n == 0:
            empty = np.zeros((0, self.columns))
            return WindowResult(empty, empty.copy(), np.zeros(0, np.int64))
        slot = self._slots(keys, times)
        window = times // self.width
        order = np.lexsort((np.arange(n), window, slot))
        s_slot, s_win, s_time = slot[order], window[order], times[order]
        new_slot = np.ones(n, dtype=bool)
        new_slot[1:] = s_slot[1:] != s_slot[:-1]
        prev_time = np.empty(n, np.int64)
        prev_time[1:] = s_time[:-1]
        prev_time[new_slot] = self._last_time[s_slot[new_slot]]
        vals = values[order]
        if self.gaps:
            has = prev_time != UNSEEN
            gap = np.maximum(s_time - np.where(has, prev_time, s_time), 0) / 1e6
            vals = np.column_stack([vals, has, gap, gap * gap])

        new_group = np.ones(n, dtype=bool)
        new_group[1:] = (s_slot[1:] != s_slot[:-1]) | (s_win[1:] != s_win[:-1])
        starts = np.flatnonzero(new_group)
        group = np.cumsum(new_group) - 1
        cum = np.cumsum(vals, axis=0)
        running = cum - (cum[starts] - vals[starts])[group]

        # What each group starts from: the stored state when it is the same window, else nothing.
        g_slot, g_win = s_slot[starts], s_win[starts]
        state_win = self._window[g_slot]
        carry = np.where((state_win == g_win)[:, None], self._current[g_slot], 0.0)
        running += carry[group]
        ends = np.append(starts[1:], n) - 1
        totals = running[ends]

        # The window before each group: the group before it (same key, one window earlier), or
        # the stored state (its previous window, or its current one if that is one earlier).
        before = np.zeros_like(totals)
        from_state = new_slot[starts]
        prior = ~from_state
        prior_idx = np.flatnonzero(prior)
        adjacent = g_win[prior_idx] - 1 == g_win[prior_idx - 1]
        before[prior_idx[adjacent]] = totals[prior_idx[adjacent] - 1]
        st = np.flatnonzero(from_state)
        same = state_win[st] == g_win[st]
        one_back = state_win[st] == g_win[st] - 1
        before[st[same]] = self._previous[g_slot[st[same]]]
        before[st[one_back]] = self._current[g_slot[st[one_back]]]
        fraction = 1.0 - (s_time - s_win * self.width) / self.width
        estimate = running + before[group] * fraction[:, None]

        self._store(s_slot, s_win, s_time, new_slot, starts, totals, before)
        out_cur, out_est, out_prev = (
            np.empty_like(running),
            np.empty_like(estimate),
            np.empty_like(prev_time),
        )
        out_cur[order], out_est[order], out_prev[order] = running, estimate, prev_time
        return WindowResult(out_cur, out_est, out_prev)

    def peek(self, keys: U64, times: I64) -> F64:
        """The sliding-window estimate of each key at each time, without adding anything."""
        out = np.zeros((len(keys), self.columns))
        slots = np.array([self._slot_of.get(k, -1) for k in keys.tolist()], dtype=np.int64)
        known = np.flatnonzero(slots >= 0)
        s = slots[known]
        win = times[known] // self.width
        fraction = 1.0 - (times[known] - win * self.width) / self.width
        state_win = self._window[s]
        same = (state_win == win)[:, None]
        one_back = (state_win == win - 1)[:, None]
        cur = np.where(same, self._current[s], 0.0)
        prev = np.where(same, self._previous[s], np.where(one_back, self._current[s], 0.0))
        out[known] = cur + prev * fraction[:, None]
        return out

    # -- state -------------------------------------------------------------------------------
    def _slots(self, keys: U64, times: I64) -> I64:
        uniq, inverse = np.unique(keys, return_inverse=True)
        found = np.array([self._slot_of.get(k, -1) for k in uniq.tolist()], dtype=np.int64)
        missing = np.flatnonzero(found < 0)
        if len(missing):
            found[missing] = self._allocate(len(missing), keep=found[found >= 0])
            for k, s in zip(uniq[missing].tolist(), found[missing].tolist(), strict=True):
                self._slot_of[k] = s
            self._key[found[missing]] = uniq[missing]
            self._window[found[missing]] = _NO_WINDOW
            self._current[found[missing]] = 0.0
            self._previous[found[missing]] = 0.0
            self._last_time[found[missing]] = UNSEEN
        return found[inverse.reshape(-1)]

    def _allocate(self, k: int, keep: I64) -> I64:
        free = min(k, self.capacity - self._used)
        slots = np.arange(self._used, self._used + free, dtype=np.int64)
        self._used += free
        if free == k:
            return slots
        # Full: drop the keys seen least recently, never one this batch uses.
        recency = self._last_time[: self._used].astype(np.float64)
        recency[keep] = np.inf
        victims = np.argpartition(recency, k - free)[: k - free].astype(np.int64)
        for key in self._key[victims].tolist():
            del self._slot_of[key]
        self.evicted += len(victims)
        return np.concatenate([slots, victims])

    def _store(
        self,
        s_slot: I64,
        s_win: I64,
        s_time: I64,
        new_slot: npt.NDArray[np.bool_],
        starts: I64,
        totals: F64,
        before: F64,
    ) -> None:
        # The last group of each key holds its newest window; older rows never overwrite newer.
        last_of_slot = np.append(np.flatnonzero(new_slot)[1:], len(s_slot)) - 1
        last_group = np.searchsorted(starts, last_of_slot, side="right") - 1
        slots = s_slot[last_of_slot]
        newer = s_win[last_of_slot] >= self._window[slots]
        g = last_group[newer]
        sl = slots[newer]
        self._window[sl] = s_win[starts[g]]
        self._current[sl] = totals[g]
        self._previous[sl] = before[g]
        latest = np.maximum.reduceat(s_time, np.flatnonzero(new_slot))
        self._last_time[slots] = np.maximum(self._last_time[slots], latest)

"""``FailureLimiter``: at most N failures per key (a user name, a client address) per window.

Written here rather than taken from slowapi/limits: those count every request, and what must be
limited is failures only (a user who logs in correctly is never slowed down). Memory is bounded:
at most ``max_keys`` keys, the least recently failed dropped first.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        *,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._max_keys = max_keys
        self._now = monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until any of ``keys`` may try again; 0 when none is limited."""
        now = self._now()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._prune(key, now)
                if times is not None and len(times) >= self._max:
                    wait = max(wait, times[0] + self._window - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = self._now()
        with self._lock:
            for key in keys:
                times = self._failures.setdefault(key, deque(maxlen=self._max))
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

"""``SuppressionFilter``: applied to new alerts before they are stored (by the composition root
for ``analyze`` and by ingest for sensors' batches), counting what it held back."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from alerts.model import Alert
from api.app.db import ServiceDatabase
from api.app.noise.matching import SuppressionRule
from api.app.noise.rules import active_rules, record_hits
from cityshield.clock import Clock

#: Suppressions are read again at most this often: another process (the API server, while a
#: capture is analysed) may have added one.
RELOAD_SECONDS = 5.0


class SuppressionFilter:
    def __init__(self, db: ServiceDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._rules: list[SuppressionRule] = []
        self._loaded = float("-inf")
        self._lock = threading.Lock()
        #: Alerts held back by this filter (each time one was offered).
        self.suppressed = 0

    def invalidate(self) -> None:
        """Read the suppressions again before the next alert (one was added or deleted)."""
        with self._lock:
            self._loaded = float("-inf")

    def __call__(self, alerts: Sequence[Alert]) -> list[Alert]:
        rules = self._current()
        if not rules:
            return list(alerts)
        now = self._clock.now()
        kept: list[Alert] = []
        hits: dict[tuple[str, str], int] = {}
        for alert in alerts:
            rule = next((r for r in rules if r.active(now) and r.holds_back(alert)), None)
            if rule is None:
                kept.append(alert)
            else:
                hits[(rule.id, alert.id)] = max(hits.get((rule.id, alert.id), 0), alert.count)
        if hits:
            with self._db.write() as conn:
                record_hits(conn, hits, now)
            with self._lock:
                self.suppressed += len(alerts) - len(kept)
        return kept

    def _current(self) -> list[SuppressionRule]:
        with self._lock:
            if time.monotonic() - self._loaded < RELOAD_SECONDS:
                return self._rules
        with self._db.read() as conn:
            rules = active_rules(conn, self._clock.now())
        with self._lock:
            self._rules, self._loaded = rules, time.monotonic()
        return rules

"""Aggregation: repeats of one rule about the same thing become one alert with a count.

Detectors raise an alert per observation; a port sweep of 10,000 probes must reach analysts as one
alert with ``count == 10000``, not 10,000 rows. The aggregator folds repeats whose key (rule id plus
the values of the alert's aggregation fields) matches an open aggregate within a time window, and
tells its caller which aggregates to upsert into the store (``take_changed``).

Time is network time (the alerts' own timestamps), never the wall clock, so that replaying a capture
aggregates exactly as the live sensor did. Memory is bounded by ``max_open``.
"""

from __future__ import annotations

import heapq
import itertools
from datetime import datetime, timedelta

from pydantic import Field, field_validator

from alerts.model import Alert, FieldValue, check_field_name
from cityshield.settings import Section

#: Rule id, aggregation field names, their values.
AggregateKey = tuple[str, tuple[str, ...], tuple[FieldValue, ...]]


class AggregationSettings(Section):
    #: A repeat more than this long after an aggregate's last_seen starts a new aggregate.
    window_seconds: float = Field(default=3600.0, gt=0)
    #: Aggregates held open at most; past it the one seen longest ago is closed (evicted).
    max_open: int = Field(default=100_000, ge=1)
    #: Aggregation fields per rule id, overriding what the detector put on its alerts.
    fields_by_rule: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("fields_by_rule")
    @classmethod
    def _known_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for fields in value.values():
            for name in fields:
                check_field_name(name)
        return value


def fold(aggregate: Alert, repeat: Alert) -> Alert:
    """``aggregate`` with ``repeat`` folded in; the aggregate keeps its id and triage."""
    newest = repeat if repeat.last_seen >= aggregate.last_seen else aggregate
    return aggregate.model_copy(
        update={
            "count": aggregate.count + repeat.count,
            "first_seen": min(aggregate.first_seen, repeat.first_seen),
            "last_seen": max(aggregate.last_seen, repeat.last_seen),
            "severity": max(aggregate.severity, repeat.severity, key=lambda s: s.rank),
            "risk_score": max(aggregate.risk_score, repeat.risk_score),
            "techniques": list(dict.fromkeys([*aggregate.techniques, *repeat.techniques])),
            "evidence": aggregate.evidence.merge(repeat.evidence),
            # The message describes the data (often with numbers in it), so both come from the
            # newest observation.
            "message": newest.message,
            "data": newest.data,
        }
    )


class AlertAggregator:
    """Folds repeats of alerts into aggregates. Not thread-safe: one per detection pipeline."""

    def __init__(self, settings: AggregationSettings | None = None) -> None:
        self._settings = settings or AggregationSettings()
        self._window = timedelta(seconds=self._settings.window_seconds)
        # Each open aggregate with the sequence number of its newest heap entry.
        self._open: dict[AggregateKey, tuple[Alert, int]] = {}
        # (last_seen, seq, key) of open aggregates, oldest first. Entries are not removed when an
        # aggregate changes (that would be O(n)); an entry whose seq is no longer the aggregate's is
        # stale and skipped when popped.
        self._heap: list[tuple[datetime, int, AggregateKey]] = []
        self._seq = itertools.count()
        self._changed: dict[str, Alert] = {}
        self._network_time: datetime | None = None
        self._counts = {"added": 0, "merged": 0, "evicted": 0, "expired": 0, "late": 0}

    def add(self, alert: Alert) -> Alert:
        """Fold ``alert`` into its open aggregate or start a new one; returns the aggregate."""
        fields = self._settings.fields_by_rule.get(alert.rule.id)
        if fields is not None and fields != alert.aggregation_fields:
            alert = alert.model_copy(update={"aggregation_fields": list(fields)})
        key: AggregateKey = (
            alert.rule.id,
            tuple(alert.aggregation_fields),
            alert.aggregation_key(),
        )
        # Network time moves with first_seen, the time the window rule compares: an alert that
        # spans long must not expire the aggregate it is about to join.
        self._expire(alert.first_seen)
        entry = self._open.get(key)
        if entry is not None and self._within_window(entry[0], alert):
            aggregate = fold(entry[0], alert)
            self._counts["merged"] += 1
            self._track(key, aggregate)
        elif entry is not None and alert.last_seen < entry[0].first_seen:
            # A straggler from well before the open aggregate: stored on its own, and the newer
            # aggregate stays open for the repeats still to come.
            aggregate = alert
            self._counts["late"] += 1
        else:
            aggregate = alert
            self._counts["added"] += 1
            self._track(key, aggregate)
            self._evict()
        self._changed[aggregate.id] = aggregate
        return aggregate

    def take_changed(self) -> list[Alert]:
        """Aggregates new or changed since the last call, in order of first change: the caller
        upserts them into the store. Includes aggregates evicted or expired meanwhile."""
        changed = list(self._changed.values())
        self._changed.clear()
        return changed

    def stats(self) -> dict[str, int]:
        """Counters: aggregates ``added``, repeats ``merged``, aggregates ``evicted`` (over
        ``max_open``) and ``expired`` (window passed), ``late`` stragglers, ``open`` and
        ``pending`` (changed, not yet taken)."""
        return {**self._counts, "open": len(self._open), "pending": len(self._changed)}

    def _within_window(self, aggregate: Alert, alert: Alert) -> bool:
        return (
            alert.first_seen - aggregate.last_seen <= self._window
            and aggregate.first_seen - alert.last_seen <= self._window
        )

    def _track(self, key: AggregateKey, aggregate: Alert) -> None:
        seq = next(self._seq)
        self._open[key] = (aggregate, seq)
        heapq.heappush(self._heap, (aggregate.last_seen, seq, key))
        if len(self._heap) > 2 * len(self._open) + 1024:
            # Too many stale entries (an aggregate that keeps growing pushes one per repeat).
            self._heap = [(a.last_seen, s, k) for k, (a, s) in self._open.items()]
            heapq.heapify(self._heap)

    def _pop_oldest(self) -> AggregateKey | None:
        while self._heap:
            _, seq, key = heapq.heappop(self._heap)
            entry = self._open.get(key)
            if entry is not None and entry[1] == seq:
                del self._open[key]
                return key
        return None

    def _evict(self) -> None:
        while len(self._open) > self._settings.max_open and self._pop_oldest() is not None:
            self._counts["evicted"] += 1

    def _expire(self, seen: datetime) -> None:
        """Close aggregates no repeat can join any more: network time has moved past their window.
        A repeat that arrives later still is not lost; it starts a new aggregate."""
        if self._network_time is None or seen > self._network_time:
            self._network_time = seen
        horizon = self._network_time - self._window
        while self._heap and self._heap[0][0] < horizon:
            _, seq, key = self._heap[0]
            entry = self._open.get(key)
            if entry is not None and entry[1] == seq:
                self._pop_oldest()
                self._counts["expired"] += 1
            else:
                heapq.heappop(self._heap)

"""alerts.aggregation: repeats fold into one alert; windows, bounds and what reaches the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from alerts.aggregation import AggregationSettings, AlertAggregator
from alerts.evidence import Evidence
from alerts.model import Alert, Severity
from alerts.stores import AlertQuery, SqliteAlertStore

AlertFactory = Callable[..., Alert]
SCAN_FIELDS = {"port_scan": ["source.ip", "destination.ip"]}


def _probe(make_alert: AlertFactory, t0: datetime, i: int) -> Alert:
    """One probe of a sweep: a new destination port every millisecond."""
    return make_alert(
        dport=1 + i,
        at=t0 + timedelta(milliseconds=i),
        techniques=["T1046"],
        evidence=Evidence(flow_ids=[f"flow-{i}"], community_ids=[f"1:{i}="]),
        data={"port": 1 + i},
        message=f"probe of port {1 + i}",
    )


def test_a_sweep_of_10000_probes_is_one_stored_alert_with_count_10000(
    make_alert: AlertFactory, t0: datetime, store: SqliteAlertStore
) -> None:
    aggregator = AlertAggregator(AggregationSettings(fields_by_rule=SCAN_FIELDS))
    first = _probe(make_alert, t0, 0)
    for i in range(10_000):
        aggregator.add(first if i == 0 else _probe(make_alert, t0, i))
        if i % 1000 == 999:  # the pipeline flushes to the store as it goes
            store.upsert_alerts(aggregator.take_changed())
    store.upsert_alerts(aggregator.take_changed())

    assert store.count_alerts(AlertQuery()) == 1
    (stored,) = store.query_alerts(AlertQuery()).items
    assert stored.count == 10_000
    assert stored.id == first.id
    assert stored.first_seen == t0
    assert stored.last_seen == t0 + timedelta(milliseconds=9999)
    assert stored.aggregation_fields == ["source.ip", "destination.ip"]
    assert stored.data == {"port": 10_000}
    assert stored.message == "probe of port 10000"
    assert len(stored.evidence.flow_ids) == 50
    assert stored.evidence.flow_ids[0] == "flow-0"
    assert stored.evidence.truncated
    assert aggregator.stats()["merged"] == 9_999


def test_without_the_rule_override_each_port_is_its_own_alert(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator()
    for i in range(10):
        aggregator.add(_probe(make_alert, t0, i))
    assert len(aggregator.take_changed()) == 10


def test_severity_and_risk_take_the_maximum_and_newest_data_wins(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator()
    aggregator.add(make_alert(severity=Severity.LOW, data={"n": 1}, techniques=["T1046"]))
    aggregator.add(
        make_alert(severity=Severity.CRITICAL, at=t0 + timedelta(seconds=2), data={"n": 3})
    )
    # Arrives last but happened earlier: its data is older.
    last = aggregator.add(
        make_alert(
            severity=Severity.MEDIUM,
            at=t0 + timedelta(seconds=1),
            data={"n": 2},
            techniques=["T1595"],
        )
    )
    assert last.severity is Severity.CRITICAL
    assert last.risk_score == Severity.CRITICAL.risk_score
    assert last.count == 3
    assert last.data == {"n": 3}
    assert last.techniques == ["T1046", "T1595"]
    assert (last.first_seen, last.last_seen) == (t0, t0 + timedelta(seconds=2))


def test_a_repeat_after_the_window_starts_a_new_aggregate(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator(AggregationSettings(window_seconds=60))
    first = aggregator.add(make_alert())
    inside = aggregator.add(make_alert(at=t0 + timedelta(seconds=60)))
    assert inside.id == first.id
    assert inside.count == 2
    # 60 s after the aggregate's last_seen (t0 + 60 s) is still inside; a microsecond more is not.
    outside = aggregator.add(make_alert(at=t0 + timedelta(seconds=120, microseconds=1)))
    assert outside.id != first.id
    assert outside.count == 1
    changed = aggregator.take_changed()
    assert [(a.id, a.count) for a in changed] == [(first.id, 2), (outside.id, 1)]
    assert aggregator.stats()["expired"] == 1


def test_a_repeat_that_starts_inside_the_window_joins_however_long_it_lasts(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator(AggregationSettings(window_seconds=60))
    first = aggregator.add(make_alert())
    long = make_alert(at=t0 + timedelta(seconds=30), last_seen=t0 + timedelta(minutes=10))
    joined = aggregator.add(long)
    assert (joined.id, joined.count) == (first.id, 2)
    assert joined.last_seen == t0 + timedelta(minutes=10)


def test_expired_aggregates_are_closed_by_network_time(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator(AggregationSettings(window_seconds=60))
    aggregator.add(make_alert(src="10.0.0.1"))
    aggregator.add(make_alert(src="10.0.0.9", at=t0 + timedelta(minutes=5)))
    assert aggregator.stats()["open"] == 1
    assert aggregator.stats()["expired"] == 1


def test_a_straggler_from_before_the_window_is_kept_on_its_own(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator(AggregationSettings(window_seconds=60))
    current = aggregator.add(make_alert(at=t0 + timedelta(hours=1)))
    late = aggregator.add(make_alert())
    assert late.id != current.id
    again = aggregator.add(make_alert(at=t0 + timedelta(hours=1, seconds=1)))
    assert again.id == current.id
    assert again.count == 2
    assert aggregator.stats()["late"] == 1
    assert {a.id for a in aggregator.take_changed()} == {current.id, late.id}


def test_max_open_evicts_the_aggregate_seen_longest_ago(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator(AggregationSettings(max_open=2))
    a = aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(seconds=1)))
    aggregator.add(make_alert(src="10.0.0.2", at=t0))
    aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(seconds=3)))  # a is newest now
    aggregator.add(make_alert(src="10.0.0.3", at=t0 + timedelta(seconds=2)))
    stats = aggregator.stats()
    assert (stats["open"], stats["evicted"]) == (2, 1)
    # 10.0.0.2 (last seen at t0) was evicted; 10.0.0.1 is still open and keeps folding.
    assert aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(seconds=4))).id == a.id
    restarted = aggregator.add(make_alert(src="10.0.0.2", at=t0 + timedelta(seconds=5)))
    assert restarted.count == 1
    # Nothing evicted is lost: every aggregate is still handed to the store.
    assert len(aggregator.take_changed()) == 4


def test_take_changed_returns_only_what_changed_since_the_last_call(
    make_alert: AlertFactory, t0: datetime
) -> None:
    aggregator = AlertAggregator()
    a = aggregator.add(make_alert(src="10.0.0.1"))
    aggregator.add(make_alert(src="10.0.0.2"))
    assert len(aggregator.take_changed()) == 2
    assert aggregator.take_changed() == []
    aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(seconds=1)))
    (changed,) = aggregator.take_changed()
    assert (changed.id, changed.count) == (a.id, 2)
    assert aggregator.stats()["pending"] == 0


def test_the_rule_override_is_recorded_on_the_aggregate(make_alert: AlertFactory) -> None:
    aggregator = AlertAggregator(AggregationSettings(fields_by_rule={"port_scan": ["source.ip"]}))
    assert aggregator.add(make_alert()).aggregation_fields == ["source.ip"]
    other_rule = aggregator.add(make_alert(rule_id="brute_force"))
    assert other_rule.aggregation_fields == ["source.ip", "destination.ip", "destination.port"]


def test_settings_refuse_unknown_fields_and_keys() -> None:
    with pytest.raises(ValidationError, match="unknown alert field"):
        AggregationSettings(fields_by_rule={"port_scan": ["src.ip"]})
    with pytest.raises(ValidationError, match="window_seconds"):
        AggregationSettings(window_seconds=0)
    with pytest.raises(ValidationError, match="extra"):
        AggregationSettings.model_validate({"window": 10})


def test_eviction_stays_right_after_thousands_of_repeats(
    make_alert: AlertFactory, t0: datetime
) -> None:
    # Thousands of repeats of one aggregate make the aggregator compact its eviction order;
    # afterwards it must still evict by last_seen.
    aggregator = AlertAggregator(AggregationSettings(max_open=2))
    aggregator.add(make_alert(src="10.0.0.2", at=t0 + timedelta(seconds=1)))
    for i in range(3000):
        kept = aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(milliseconds=i)))
    aggregator.add(make_alert(src="10.0.0.3", at=t0 + timedelta(seconds=4)))
    assert aggregator.stats()["evicted"] == 1
    # 10.0.0.1 was last seen at t0 + 2.999 s, after 10.0.0.2 (t0 + 1 s): 10.0.0.2 went.
    again = aggregator.add(make_alert(src="10.0.0.1", at=t0 + timedelta(seconds=5)))
    assert (again.id, again.count) == (kept.id, 3001)

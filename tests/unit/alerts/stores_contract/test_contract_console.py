"""Contract: console aggregations, protocol records and flows give the same answers everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from alerts.model import Alert, Severity
from alerts.stores import AlertQuery, AlertStore, FlowQuery, flow_cursor
from alerts.stores.buckets import MAX_TIME_BUCKETS
from cityshield.errors import NotFoundError, StoreError

AlertFactory = Callable[..., Alert]
FlowFactory = Callable[..., dict[str, Any]]


def _table(buckets: list[Any]) -> list[tuple[str, int, int]]:
    return [(b.key, b.alerts, b.events) for b in buckets]


@pytest.fixture
def console(store: AlertStore, make_alert: AlertFactory, t0: datetime) -> AlertStore:
    m = timedelta(minutes=1)
    store.upsert_alerts(
        [
            make_alert(rule_id="scan", src="10.0.0.9", dst="10.0.0.2", count=5, at=t0),
            make_alert(rule_id="scan", src="10.0.0.9", dst="10.0.0.3", count=1, at=t0 + 30 * m),
            make_alert(rule_id="scan", src="10.0.0.8", dst="10.0.0.3", count=2, at=t0 + 61 * m),
            make_alert(
                rule_id="brute",
                src="2001:db8::1",
                dst=None,
                severity=Severity.HIGH,
                count=40,
                at=t0 + 3 * 60 * m,
            ),
            make_alert(rule_id="dns", src=None, dst="10.0.0.3", severity=Severity.LOW, at=t0),
        ]
    )
    return store


def test_counts_by_rule_source_destination_and_severity(console: AlertStore) -> None:
    q = AlertQuery()
    assert _table(console.aggregate_alerts(q, "rule")) == [
        ("scan", 3, 8),
        ("brute", 1, 40),
        ("dns", 1, 1),
    ]
    # Alerts without a source are left out; ties are broken by the key.
    assert _table(console.aggregate_alerts(q, "source")) == [
        ("10.0.0.9", 2, 6),
        ("10.0.0.8", 1, 2),
        ("2001:db8::1", 1, 40),
    ]
    assert _table(console.aggregate_alerts(q, "destination", size=1)) == [("10.0.0.3", 3, 4)]
    assert _table(console.aggregate_alerts(q, "severity")) == [
        ("medium", 3, 8),
        ("low", 1, 1),
        ("high", 1, 40),
    ]


def test_aggregations_honour_the_query(console: AlertStore) -> None:
    buckets = console.aggregate_alerts(AlertQuery(rule_ids=["scan"], ip="10.0.0.3"), "source")
    assert _table(buckets) == [("10.0.0.8", 1, 2), ("10.0.0.9", 1, 1)]
    assert console.aggregate_alerts(AlertQuery(rule_ids=[]), "rule") == []


def test_counts_over_time(console: AlertStore, t0: datetime) -> None:
    hourly = console.aggregate_alerts(AlertQuery(), "time", interval=timedelta(hours=1))
    hour = t0.strftime("%Y-%m-%dT%H")
    assert _table(hourly) == [
        (f"{hour}:00:00.000000Z", 3, 7),
        ("2024-05-01T11:00:00.000000Z", 1, 2),
        ("2024-05-01T13:00:00.000000Z", 1, 40),
    ]
    daily = console.aggregate_alerts(AlertQuery(), "time", interval=timedelta(days=1))
    assert _table(daily) == [("2024-05-01T00:00:00.000000Z", 5, 49)]
    default = console.aggregate_alerts(AlertQuery(rule_ids=["brute"]), "time")
    assert _table(default) == [("2024-05-01T13:00:00.000000Z", 1, 40)]


def test_histograms_too_fine_or_odd_are_refused(console: AlertStore) -> None:
    with pytest.raises(StoreError, match=f"at most {MAX_TIME_BUCKETS}"):
        console.aggregate_alerts(AlertQuery(), "time", interval=timedelta(seconds=1))
    with pytest.raises(StoreError, match="whole seconds"):
        console.aggregate_alerts(AlertQuery(), "time", interval=timedelta(milliseconds=1500))
    with pytest.raises(StoreError, match="size"):
        console.aggregate_alerts(AlertQuery(), "rule", size=0)
    assert console.aggregate_alerts(AlertQuery(rule_ids=["none"]), "time") == []


def test_protocol_records_are_stored_once_per_id(store: AlertStore) -> None:
    dns = [
        {"@timestamp": "2024-05-01T10:00:00Z", "event": {"id": f"d{i}"}, "dns": {"id": i}}
        for i in range(3)
    ]
    assert store.add_records("dns", dns) == 3
    assert store.add_records("dns", dns[:1]) == 1  # a replay replaces
    no_id = {"@timestamp": "2024-05-01T10:00:00Z", "tls": {"version": "1.3"}}
    assert store.add_records("tls", [no_id, no_id]) == 2
    assert store.stats()["records"] == 4
    with pytest.raises(StoreError, match="unknown record kind"):
        store.add_records("smtp", [])  # type: ignore[arg-type]


def test_flows_are_stored_filtered_and_paged(
    store: AlertStore, make_flow: FlowFactory, t0: datetime
) -> None:
    flows = [
        make_flow(
            f"f{i:02}",
            src=f"10.1.0.{i}",
            start=t0 + timedelta(seconds=i // 2),
            conn_state="SF" if i % 3 else "REJ",
            transport="udp" if i == 7 else "tcp",
        )
        for i in range(11)
    ]
    assert store.add_flows(flows) == 11
    assert store.get_flow("f03") == flows[3]
    with pytest.raises(NotFoundError):
        store.get_flow("nope")
    got: list[str] = []
    cursor = None
    while True:
        page = store.query_flows(FlowQuery(limit=4, cursor=cursor))
        got.extend(f["event"]["id"] for f in page)
        if len(page) < 4:
            break
        cursor = flow_cursor(page[-1])
    assert got == sorted(got, key=lambda i: (flows[int(i[1:])]["event"]["end"], i), reverse=True)
    assert sorted(got) == [f["event"]["id"] for f in flows]

    def flow_ids(**filters: object) -> set[str]:
        found = store.query_flows(FlowQuery.model_validate({"limit": 100, **filters}))
        return {f["event"]["id"] for f in found}

    assert flow_ids(conn_state="REJ") == {"f00", "f03", "f06", "f09"}
    assert flow_ids(transport="UDP") == {"f07"}
    assert flow_ids(ip="10.1.0.4") == {"f04"}
    assert flow_ids(ip="10.1.0.8/30", conn_state="SF") == {"f08", "f10"}
    # Flows whose span reaches the start: flow i runs from i // 2 to i // 2 + 1 seconds.
    assert flow_ids(start=t0 + timedelta(seconds=5)) == {"f08", "f09", "f10"}
    assert store.stats()["flows"] == 11

"""alerts.stores.sqlite (migration 5): time windows as bounded index ranges, kept correct by the
longest span stored, and console aggregations on their covering index."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from alerts.model import Alert
from alerts.stores import AlertQuery, FlowQuery, SqliteAlertStore
from alerts.stores.sqlite_query import alert_row, alert_where
from alerts.stores.sqlite_schema import migrate

AlertFactory = Callable[..., Alert]
RawDb = Callable[[Path], sqlite3.Connection]
DAY = timedelta(days=1)


def test_a_long_alert_is_found_in_a_window_inside_its_span(
    store: SqliteAlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    short = [make_alert(src=f"10.0.0.{i}", at=t0 + i * DAY) for i in range(5)]
    long = make_alert(src="10.9.9.9", at=t0 - 30 * DAY, last_seen=t0 + 30 * DAY)
    store.upsert_alerts(short)
    store.upsert_alerts([long])  # a later write with a longer span than any before
    window = AlertQuery(start=t0 + 2 * DAY, end=t0 + 2 * DAY + timedelta(hours=1))
    assert {a.id for a in store.query_alerts(window).items} == {short[2].id, long.id}
    assert store.count_alerts(window) == 2
    assert sum(b.alerts for b in store.aggregate_alerts(window, "source")) == 2


def test_a_store_from_before_migration_5_learns_its_longest_spans(
    tmp_path: Path,
    raw_db: RawDb,
    make_alert: AlertFactory,
    make_flow: Callable[..., dict],
    t0: datetime,
) -> None:
    path = tmp_path / "v4.db"
    db = raw_db(path)
    migrate(db, str(path), target=4)
    long = make_alert(at=t0 - 30 * DAY, last_seen=t0 + 30 * DAY)
    db.execute(
        "INSERT INTO alerts (id, rule_id, rule_name, severity, risk_score, first_seen, last_seen, "
        "status, assignee, observer, community_id, src_ip, dst_ip, message, count, version, doc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        alert_row(long),
    )
    db.close()
    with SqliteAlertStore(path) as store:
        store.add_flows([make_flow("f", start=t0 - DAY, duration=3 * DAY)])
        assert [a.id for a in store.query_alerts(AlertQuery(start=t0, end=t0)).items] == [long.id]
        assert [f["event"]["id"] for f in store.query_flows(FlowQuery(start=t0, end=t0))] == ["f"]


def test_windows_and_aggregations_use_bounded_index_ranges(tmp_path: Path, t0: datetime) -> None:
    with SqliteAlertStore(tmp_path / "a.db"):
        pass
    db = sqlite3.connect(tmp_path / "a.db")
    where = alert_where(AlertQuery(start=t0, end=t0 + DAY), max_span_us=3600 * 10**6)
    plan = " ".join(
        row[3]
        for row in db.execute(
            "EXPLAIN QUERY PLAN "
            + where.statement(
                "SELECT doc FROM alerts", " ORDER BY last_seen DESC, id DESC LIMIT 5"
            ),
            where.params,
        )
    )
    assert "last_seen>? AND last_seen<?" in plan
    db.close()

"""alerts.stores.sqlite: alerts, upserts that keep triage, every filter, keyset pages, triage."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from alerts.model import Alert, CloseReason, Severity, TriageStatus
from alerts.stores import AlertQuery, SqliteAlertStore
from alerts.triage import TriageError
from cityshield.clock import FixedClock
from cityshield.errors import NotFoundError, StoreError

AlertFactory = Callable[..., Alert]
RawDb = Callable[[Path], sqlite3.Connection]


def _ids(store: SqliteAlertStore, **filters: object) -> set[str]:
    query = AlertQuery.model_validate({"limit": 1000, **filters})
    page = store.query_alerts(query)
    assert store.count_alerts(query) == len(page.items)
    return {a.id for a in page.items}


def test_upsert_then_get_returns_the_same_alert(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    alert = make_alert(data={"k": [1, 2]}, techniques=["T1046"])
    assert store.upsert_alerts([alert]) == 1
    assert store.get_alert(alert.id) == alert
    with pytest.raises(NotFoundError, match="no alert"):
        store.get_alert("missing")


def test_alerts_survive_reopening(tmp_path: Path, make_alert: AlertFactory) -> None:
    alert = make_alert()
    with SqliteAlertStore(tmp_path / "a.db") as store:
        store.upsert_alerts([alert])
    with SqliteAlertStore(tmp_path / "a.db") as store:
        assert store.get_alert(alert.id) == alert


def test_upsert_refreshes_the_alert_but_never_its_triage(
    store: SqliteAlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    alert = make_alert(severity=Severity.LOW, data={"n": 1})
    store.upsert_alerts([alert])
    closed = store.update_triage(
        alert.id,
        status=TriageStatus.CLOSED,
        close_reason=CloseReason.TRUE_POSITIVE,
        assignee="ana",
        actor="ana",
    )
    grown = alert.model_copy(
        update={
            "count": 7,
            "last_seen": t0 + timedelta(minutes=5),
            "severity": Severity.HIGH,
            "risk_score": 80.0,
            "data": {"n": 7},
        }
    )
    store.upsert_alerts([grown])
    stored = store.get_alert(alert.id)
    assert stored.triage == closed.triage
    assert (stored.count, stored.severity, stored.risk_score) == (7, Severity.HIGH, 80.0)
    assert stored.last_seen == t0 + timedelta(minutes=5)
    assert stored.data == {"n": 7}
    # The triage columns behind the filters were kept too.
    assert _ids(store, statuses=["closed"]) == {alert.id}


def test_a_replayed_older_state_does_not_roll_an_alert_back(
    store: SqliteAlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    alert = make_alert()
    newer = alert.model_copy(update={"count": 10, "last_seen": t0 + timedelta(seconds=10)})
    older = alert.model_copy(update={"count": 4, "last_seen": t0 + timedelta(seconds=4)})
    store.upsert_alerts([newer])
    store.upsert_alerts([older])
    stored = store.get_alert(alert.id)
    assert (stored.count, stored.last_seen) == (10, t0 + timedelta(seconds=10))


def test_an_empty_upsert_writes_nothing(store: SqliteAlertStore) -> None:
    assert store.upsert_alerts([]) == 0
    assert store.stats()["alerts"] == 0


def test_upsert_of_one_id_twice_in_a_batch(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    alert = make_alert()
    assert store.upsert_alerts([alert, alert.model_copy(update={"count": 3})]) == 1
    assert store.get_alert(alert.id).count == 3


def test_time_filter_selects_alerts_whose_span_overlaps(
    store: SqliteAlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    hour = timedelta(hours=1)
    early = make_alert(src="10.0.0.1", at=t0, last_seen=t0 + hour)
    middle = make_alert(src="10.0.0.2", at=t0 + 2 * hour, last_seen=t0 + 3 * hour)
    late = make_alert(src="10.0.0.3", at=t0 + 5 * hour)
    store.upsert_alerts([early, middle, late])
    assert _ids(store, start=t0 + hour / 2, end=t0 + 2 * hour) == {early.id, middle.id}
    assert _ids(store, start=t0 + 3 * hour) == {middle.id, late.id}  # both ends included
    assert _ids(store, end=t0 - hour) == set()


def test_severity_rule_observer_and_community_id_filters(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    low = make_alert(src="10.0.0.1", severity=Severity.LOW, community_id="1:a=")
    high = make_alert(src="10.0.0.2", severity=Severity.HIGH, observer="sensor-2")
    critical = make_alert(src="10.0.0.3", severity=Severity.CRITICAL, rule_id="dns_tunnel")
    store.upsert_alerts([low, high, critical])
    assert _ids(store, severities=["low", "critical"]) == {low.id, critical.id}
    assert _ids(store, min_severity="high") == {high.id, critical.id}
    assert _ids(store, severities=[]) == set()
    assert _ids(store, rule_ids=["dns_tunnel"]) == {critical.id}
    assert _ids(store, observer="sensor-2") == {high.id}
    assert _ids(store, community_id="1:a=") == {low.id}


def test_ip_filter_matches_source_or_destination_by_address_or_cidr(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    v4_src = make_alert(src="192.168.1.20", dst="8.8.8.8")
    v4_dst = make_alert(src="172.16.0.5", dst="192.168.1.255")
    v4_out = make_alert(src="192.168.2.1", dst="1.1.1.1")
    v6 = make_alert(src="2001:db8:1::5", dst="2001:db8:2::1")
    v6_out = make_alert(src="2001:db9::1", dst="fe80::1")
    mapped = make_alert(src="::ffff:c0a8:101", dst="2001:db9::2")
    store.upsert_alerts([v4_src, v4_dst, v4_out, v6, v6_out, mapped])
    assert _ids(store, ip="192.168.1.0/24") == {v4_src.id, v4_dst.id, mapped.id}
    assert _ids(store, ip="192.168.1.20") == {v4_src.id}
    assert _ids(store, ip="0.0.0.0/0") == {v4_src.id, v4_dst.id, v4_out.id, mapped.id}
    assert _ids(store, ip="2001:db8::/32") == {v6.id}
    assert _ids(store, ip="2001:db8:2::1") == {v6.id}
    assert _ids(store, ip="2001:db9::/32") == {v6_out.id, mapped.id}
    with pytest.raises(ValidationError):
        AlertQuery(ip="192.168.1.0/33")


def test_status_filter_follows_triage(store: SqliteAlertStore, make_alert: AlertFactory) -> None:
    a, b, c = (make_alert(src=f"10.0.0.{i}") for i in (1, 2, 3))
    store.upsert_alerts([a, b, c])
    store.update_triage(b.id, status=TriageStatus.ACKNOWLEDGED, actor="ana")
    store.update_triage(
        c.id, status=TriageStatus.CLOSED, close_reason=CloseReason.DUPLICATE, actor="ana"
    )
    assert _ids(store, statuses=["open"]) == {a.id}
    assert _ids(store, statuses=["acknowledged", "closed"]) == {b.id, c.id}


def test_text_searches_message_and_rule_name_literally(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    scan = make_alert(src="10.0.0.1", rule_name="Port Scan", message="Many ports probed")
    tunnel = make_alert(
        src="10.0.0.2", rule_id="dns", rule_name="DNS tunnel", message="100% entropy_x"
    )
    store.upsert_alerts([scan, tunnel])
    assert _ids(store, text="port scan") == {scan.id}
    assert _ids(store, text="PROBED") == {scan.id}
    assert _ids(store, text="tunnel") == {tunnel.id}
    assert _ids(store, text="100%") == {tunnel.id}
    assert _ids(store, text="0%e") == set()  # % is not a wildcard
    assert _ids(store, text="y_x") == {tunnel.id}
    assert _ids(store, text="y_z") == set()  # _ is not a wildcard


def test_filters_combine(store: SqliteAlertStore, make_alert: AlertFactory) -> None:
    hit = make_alert(src="10.1.0.1", severity=Severity.HIGH, observer="s2")
    store.upsert_alerts(
        [
            hit,
            make_alert(src="10.1.0.2", severity=Severity.LOW, observer="s2"),
            make_alert(src="10.1.0.3", severity=Severity.HIGH, observer="s1"),
        ]
    )
    assert _ids(store, ip="10.1.0.0/16", min_severity="high", observer="s2") == {hit.id}


def test_keyset_pages_return_every_alert_once_in_order(
    store: SqliteAlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    # Three alerts share each last_seen, so the id must break ties for the pages to be exact.
    alerts = [
        make_alert(src=f"10.0.{i // 250}.{i % 250}", at=t0 + timedelta(seconds=i // 3))
        for i in range(250)
    ]
    store.upsert_alerts(alerts)
    seen: list[Alert] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = store.query_alerts(AlertQuery(limit=40, cursor=cursor))
        seen.extend(page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 7
    assert len(seen) == 250
    assert {a.id for a in seen} == {a.id for a in alerts}
    expected = sorted(alerts, key=lambda a: (a.last_seen, a.id), reverse=True)
    assert [a.id for a in seen] == [a.id for a in expected]


def test_a_page_that_ends_exactly_at_the_last_alert_has_no_next_cursor(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    store.upsert_alerts([make_alert(src=f"10.0.0.{i}") for i in range(1, 5)])
    page = store.query_alerts(AlertQuery(limit=4))
    assert len(page.items) == 4
    assert page.next_cursor is None


def test_a_forged_cursor_is_refused() -> None:
    with pytest.raises(ValidationError, match="cursor"):
        AlertQuery(cursor="bm90IGEgY3Vyc29y")


def test_triage_transitions_are_applied_and_logged(
    tmp_path: Path, make_alert: AlertFactory, clock: FixedClock, raw_db: RawDb
) -> None:
    path = tmp_path / "t.db"
    alert = make_alert()
    with SqliteAlertStore(path, clock) as store:
        store.upsert_alerts([alert])
        acked = store.update_triage(
            alert.id, status=TriageStatus.ACKNOWLEDGED, assignee="ana", actor="ana"
        )
        assert acked.triage.updated_at == clock.now()
        clock.advance(timedelta(minutes=10))
        with pytest.raises(TriageError, match="close reason"):
            store.update_triage(alert.id, status=TriageStatus.CLOSED, actor="ana")
        closed = store.update_triage(
            alert.id,
            status=TriageStatus.CLOSED,
            close_reason=CloseReason.FALSE_POSITIVE,
            actor="bo",
        )
        assert closed.triage.close_reason is CloseReason.FALSE_POSITIVE
        clock.advance(timedelta(minutes=10))
        reopened = store.update_triage(alert.id, status=TriageStatus.OPEN, actor="ana")
        assert reopened.triage.close_reason is None
        assert reopened.triage.assignee == "ana"
        # A change that changes nothing is not logged.
        assert store.update_triage(alert.id, status=TriageStatus.OPEN, actor="ana") == reopened
        assert store.get_alert(alert.id) == reopened
        history = store.triage_history(alert.id)
        assert store.stats()["triage_changes"] == 3
    assert [(h.actor, h.after["status"]) for h in history] == [
        ("ana", "acknowledged"),
        ("bo", "closed"),
        ("ana", "open"),
    ]
    assert history[1].before["assignee"] == "ana"
    assert history[1].after["close_reason"] == "false_positive"
    assert history[2].at - history[0].at == timedelta(minutes=20)
    rows = raw_db(path).execute(
        "SELECT alert_id, actor, before, after FROM triage_log ORDER BY seq"
    )
    logged = [
        (a, actor, json.loads(b)["status"], json.loads(c)["status"]) for a, actor, b, c in rows
    ]
    assert logged == [
        (alert.id, "ana", "open", "acknowledged"),
        (alert.id, "bo", "acknowledged", "closed"),
        (alert.id, "ana", "closed", "open"),
    ]


def test_triage_of_unknown_alerts_and_without_actor_is_refused(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    with pytest.raises(NotFoundError):
        store.update_triage("missing", status=TriageStatus.ACKNOWLEDGED, actor="ana")
    alert = make_alert()
    store.upsert_alerts([alert])
    with pytest.raises(TriageError, match="actor"):
        store.update_triage(alert.id, status=TriageStatus.ACKNOWLEDGED, actor=" ")
    assert store.get_alert(alert.id).triage.status is TriageStatus.OPEN
    assert store.triage_history(alert.id) == []


def test_the_triage_log_is_append_only(
    tmp_path: Path, make_alert: AlertFactory, clock: FixedClock, raw_db: RawDb
) -> None:
    alert = make_alert()
    with SqliteAlertStore(tmp_path / "t.db", clock) as store:
        store.upsert_alerts([alert])
        store.update_triage(alert.id, status=TriageStatus.ACKNOWLEDGED, actor="ana")
    db = raw_db(tmp_path / "t.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE triage_log SET actor = 'mallory'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM triage_log")
    assert db.execute("SELECT actor FROM triage_log").fetchall() == [("ana",)]


def test_stats_count_alerts_by_status_and_flows(
    store: SqliteAlertStore, make_alert: AlertFactory
) -> None:
    a, b = make_alert(src="10.0.0.1"), make_alert(src="10.0.0.2")
    store.upsert_alerts([a, b])
    store.update_triage(a.id, status=TriageStatus.ACKNOWLEDGED, actor="ana")
    stats = store.stats()
    assert stats["alerts"] == 2
    assert (stats["alerts_open"], stats["alerts_acknowledged"], stats["alerts_closed"]) == (1, 1, 0)
    assert stats["flows"] == 0
    assert stats["triage_changes"] == 1


def test_an_in_memory_store_works(make_alert: AlertFactory) -> None:
    with SqliteAlertStore(":memory:") as store:
        alert = make_alert()
        store.upsert_alerts([alert])
        assert store.get_alert(alert.id) == alert
        assert store.path is None


def test_a_stored_alert_from_a_newer_version_is_an_error_not_a_guess(
    tmp_path: Path, make_alert: AlertFactory, raw_db: RawDb
) -> None:
    alert = make_alert()
    with SqliteAlertStore(tmp_path / "a.db") as store:
        store.upsert_alerts([alert])
    raw_db(tmp_path / "a.db").execute(
        "UPDATE alerts SET doc = json_set(doc, '$.cityshield.alert.schema_version', 9)"
    )
    with SqliteAlertStore(tmp_path / "a.db") as store, pytest.raises(StoreError, match="newer"):
        store.get_alert(alert.id)


def test_the_database_is_configured_for_concurrent_use(tmp_path: Path, raw_db: RawDb) -> None:
    path = tmp_path / "deep" / "er" / "a.db"
    with SqliteAlertStore(path):
        assert path.is_file()
        db = raw_db(path)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

"""Contract: alerts are stored, refreshed, filtered and paged alike in every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from alerts.model import Alert, CloseReason, Severity, TriageStatus
from alerts.stores import AlertQuery, AlertStore
from cityshield.errors import NotFoundError

AlertFactory = Callable[..., Alert]


def ids(store: AlertStore, **filters: object) -> set[str]:
    query = AlertQuery.model_validate({"limit": 1000, **filters})
    page = store.query_alerts(query)
    assert store.count_alerts(query) == len(page.items)
    return {a.id for a in page.items}


def test_upsert_then_get_returns_the_same_alert(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    alert = make_alert(data={"k": [1, 2], "nested": {"x": "y"}}, techniques=["T1046"])
    assert store.upsert_alerts([alert]) == 1
    assert store.get_alert(alert.id) == alert
    assert store.get_alert(alert.id).version == 0
    with pytest.raises(NotFoundError, match="no alert"):
        store.get_alert("missing")


def test_upsert_refreshes_the_alert_but_never_its_analyst_state(
    store: AlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    alert = make_alert(severity=Severity.LOW, data={"n": 1})
    store.upsert_alerts([alert])
    store.update_triage(
        alert.id,
        status=TriageStatus.CLOSED,
        close_reason=CloseReason.TRUE_POSITIVE,
        assignee="ana",
        tags=["case-1"],
        actor="ana",
    )
    store.add_comment(alert.id, author="ana", text="seen before")
    before = store.get_alert(alert.id)
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
    assert (stored.triage, stored.comments, stored.version) == (
        before.triage,
        before.comments,
        2,
    )
    assert (stored.count, stored.severity, stored.risk_score) == (7, Severity.HIGH, 80.0)
    assert stored.last_seen == t0 + timedelta(minutes=5)
    assert stored.data == {"n": 7}
    assert ids(store, statuses=["closed"]) == {alert.id}
    assert ids(store, tags=["case-1"]) == {alert.id}


def test_a_replayed_older_state_does_not_roll_an_alert_back(
    store: AlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    alert = make_alert()
    newer = alert.model_copy(update={"count": 10, "last_seen": t0 + timedelta(seconds=10)})
    older = alert.model_copy(update={"count": 4, "last_seen": t0 + timedelta(seconds=4)})
    store.upsert_alerts([newer])
    store.upsert_alerts([older])
    stored = store.get_alert(alert.id)
    assert (stored.count, stored.last_seen) == (10, t0 + timedelta(seconds=10))


def test_upsert_of_one_id_twice_in_a_batch_and_of_nothing(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    assert store.upsert_alerts([]) == 0
    alert = make_alert()
    assert store.upsert_alerts([alert, alert.model_copy(update={"count": 3})]) == 1
    assert store.get_alert(alert.id).count == 3
    assert store.stats()["alerts"] == 1


def test_time_filter_selects_alerts_whose_span_overlaps(
    store: AlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    hour = timedelta(hours=1)
    early = make_alert(src="10.0.0.1", at=t0, last_seen=t0 + hour)
    middle = make_alert(src="10.0.0.2", at=t0 + 2 * hour, last_seen=t0 + 3 * hour)
    late = make_alert(src="10.0.0.3", at=t0 + 5 * hour)
    store.upsert_alerts([early, middle, late])
    assert ids(store, start=t0 + hour / 2, end=t0 + 2 * hour) == {early.id, middle.id}
    assert ids(store, start=t0 + 3 * hour) == {middle.id, late.id}  # both ends included
    assert ids(store, end=t0 - hour) == set()


def test_severity_rule_observer_and_community_id_filters(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    low = make_alert(src="10.0.0.1", severity=Severity.LOW, community_id="1:a=")
    high = make_alert(src="10.0.0.2", severity=Severity.HIGH, observer="sensor-2")
    critical = make_alert(src="10.0.0.3", severity=Severity.CRITICAL, rule_id="dns_tunnel")
    store.upsert_alerts([low, high, critical])
    assert ids(store, severities=["low", "critical"]) == {low.id, critical.id}
    assert ids(store, min_severity="high") == {high.id, critical.id}
    assert ids(store, severities=[]) == set()
    assert ids(store, rule_ids=["dns_tunnel"]) == {critical.id}
    assert ids(store, rule_ids=[]) == set()
    assert ids(store, observer="sensor-2") == {high.id}
    assert ids(store, community_id="1:a=") == {low.id}


def test_ip_filter_matches_source_or_destination_by_address_or_cidr(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    v4_src = make_alert(src="192.168.1.20", dst="8.8.8.8")
    v4_dst = make_alert(src="172.16.0.5", dst="192.168.1.255")
    v4_out = make_alert(src="192.168.2.1", dst="1.1.1.1")
    v6 = make_alert(src="2001:db8:1::5", dst="2001:db8:2::1")
    v6_out = make_alert(src="2001:db9::1", dst="fe80::1")
    # An IPv4-mapped IPv6 address is the IPv4 address (as Elasticsearch's ip type keeps it).
    mapped = make_alert(src="::ffff:c0a8:101", dst="2001:db9::2")
    store.upsert_alerts([v4_src, v4_dst, v4_out, v6, v6_out, mapped])
    assert ids(store, ip="192.168.1.0/24") == {v4_src.id, v4_dst.id, mapped.id}
    assert ids(store, ip="192.168.1.20") == {v4_src.id}
    assert ids(store, ip="0.0.0.0/0") == {v4_src.id, v4_dst.id, v4_out.id, mapped.id}
    assert ids(store, ip="2001:db8::/32") == {v6.id}
    assert ids(store, ip="2001:db8:2::1") == {v6.id}
    assert ids(store, ip="2001:db9::/32") == {v6_out.id, mapped.id}


def test_text_searches_message_and_rule_name_literally_ignoring_case(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    scan = make_alert(src="10.0.0.1", message="Port SCAN of 10.0.0.2", rule_name="Vertical scan")
    brute = make_alert(src="10.0.0.2", rule_id="ssh", rule_name="SSH brute force", message="x")
    odd = make_alert(src="10.0.0.3", rule_id="misc", message="100% of logins_failed")
    store.upsert_alerts([scan, brute, odd])
    assert ids(store, text="scan") == {scan.id}
    assert ids(store, text="BRUTE") == {brute.id}
    assert ids(store, text="0% of") == {odd.id}
    assert ids(store, text="logins_f") == {odd.id}
    assert ids(store, text="%") == {odd.id}
    assert ids(store, text="_") == {odd.id}
    assert ids(store, text="nothing like it") == set()


def test_filters_combine(store: AlertStore, make_alert: AlertFactory) -> None:
    a = make_alert(src="10.0.0.1", severity=Severity.HIGH, rule_id="r1")
    b = make_alert(src="10.0.0.2", severity=Severity.HIGH, rule_id="r2")
    c = make_alert(src="10.0.0.3", severity=Severity.LOW, rule_id="r1")
    store.upsert_alerts([a, b, c])
    assert ids(store, min_severity="high", rule_ids=["r1"]) == {a.id}
    assert ids(store, ip="10.0.0.0/31", rule_ids=["r1"], statuses=["open"]) == {a.id}
    assert ids(store, ip="10.0.0.0/30", rule_ids=["r1"]) == {a.id, c.id}


def test_keyset_pages_return_every_alert_once_in_order(
    store: AlertStore, make_alert: AlertFactory, t0: datetime
) -> None:
    # Pairs share a last_seen, so the id breaks ties and pages must cut between equal times.
    alerts = [make_alert(src=f"10.0.1.{i}", at=t0 + timedelta(seconds=i // 2)) for i in range(23)]
    store.upsert_alerts(alerts)
    seen: list[Alert] = []
    cursor = None
    pages = 0
    while True:
        page = store.query_alerts(AlertQuery(limit=5, cursor=cursor))
        seen.extend(page.items)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 5
    assert [a.id for a in seen] == [
        a.id for a in sorted(alerts, key=lambda a: (a.last_seen, a.id), reverse=True)
    ]
    assert store.count_alerts(AlertQuery(limit=5)) == 23


def test_a_page_that_ends_exactly_at_the_last_alert_has_no_next_cursor(
    store: AlertStore, make_alert: AlertFactory
) -> None:
    store.upsert_alerts([make_alert(src=f"10.0.2.{i}") for i in range(4)])
    page = store.query_alerts(AlertQuery(limit=4))
    assert len(page.items) == 4
    assert page.next_cursor is None

"""Noise control: suppressions and thresholds scoped by rule and CIDRs with expiry, previewed
against stored alerts, applied to new alerts (ingest and the detection pipeline), counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.stores import SqliteAlertStore
from alerts.stores.base import AlertQuery
from api.app.noise.matching import SuppressionRule
from cityshield.clock import FixedClock
from tests.api.httpkit import T0, Credentials, alert

SUPPRESSIONS = "/api/v1/suppressions"
INGEST = "/api/v1/ingest"


@pytest.fixture
def stored(api_store: SqliteAlertStore) -> None:
    api_store.upsert_alerts(
        [
            alert(
                "port_scan.vertical",
                src=f"198.51.100.{i}",
                dst="192.0.2.1",
                at=T0 + timedelta(minutes=i),
            )
            for i in range(10)
        ]
        + [
            alert("port_scan.vertical", src="203.0.113.5", dst="192.0.2.1"),
            alert("brute_force.ssh", src="198.51.100.3", dst="192.0.2.2", count=40),
        ]
    )


SCANNER = {
    "rule_id": "port_scan.vertical",
    "source": "198.51.100.0/24",
    "reason": "the city's vulnerability scanner",
}


@pytest.mark.parametrize(
    ("spec", "matched"),
    [
        (SCANNER, 10),
        ({"rule_id": "port_scan.vertical", "reason": "r"}, 11),
        ({"source": "198.51.100.0/24", "reason": "r"}, 11),
        ({"destination": "192.0.2.2", "reason": "r"}, 1),
        ({"source": "192.0.2.0/24", "reason": "r"}, 0),
        ({"kind": "threshold", "rule_id": "brute_force.ssh", "min_count": 50, "reason": "r"}, 1),
        ({"kind": "threshold", "rule_id": "brute_force.ssh", "min_count": 40, "reason": "r"}, 0),
    ],
)
def test_preview_counts_stored_alerts_without_saving(
    client: TestClient, creds: Credentials, stored: None, spec: dict[str, object], matched: int
) -> None:
    h = creds.headers("analyst")
    preview = client.post(f"{SUPPRESSIONS}/preview", json=spec, headers=h)
    assert preview.status_code == 200, preview.text
    assert preview.json()["matched"] == matched and preview.json()["exact"] is True
    assert client.get(SUPPRESSIONS, headers=h).json() == []


@pytest.mark.parametrize(
    "spec",
    [
        {"reason": "everything"},
        {"rule_id": "x", "source": "not-a-net", "reason": "r"},
        {"rule_id": "x", "kind": "threshold", "reason": "r"},
        {"rule_id": "x", "min_count": 5, "reason": "r"},
        {"rule_id": "x", "reason": ""},
        {"rule_id": "x", "reason": "r", "expires_at": "2020-01-01T00:00:00Z"},
        {"rule_id": "x", "reason": "r", "expires_at": "2030-01-01T00:00:00"},
    ],
)
def test_bad_suppressions_are_refused(
    client: TestClient, creds: Credentials, spec: dict[str, object]
) -> None:
    response = client.post(SUPPRESSIONS, json=spec, headers=creds.headers("analyst"))
    assert response.status_code == 422, response.text


def test_a_suppression_holds_back_new_alerts_and_counts_them(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    made = client.post(SUPPRESSIONS, json=SCANNER, headers=creds.headers("analyst"))
    assert made.status_code == 201
    sid = made.json()["id"]
    held = alert("port_scan.vertical", src="198.51.100.77")
    passed = alert("port_scan.vertical", src="203.0.113.77")
    body = {"batch_id": "n-1", "alerts": [held.to_ecs(), passed.to_ecs()]}
    result = client.post(INGEST, json=body, headers=creds.headers("sensor")).json()
    assert result["alerts"] == 1 and result["alerts_suppressed"] == 1
    assert [a.id for a in api_store.query_alerts(AlertQuery()).items] == [passed.id]
    grown = held.model_copy(update={"count": 7})
    client.post(
        INGEST,
        json={"batch_id": "n-2", "alerts": [grown.to_ecs()]},
        headers=creds.headers("sensor"),
    )
    counters = client.get(f"{SUPPRESSIONS}/{sid}", headers=creds.headers("auditor")).json()
    assert counters["hits"]["alerts"] == 1 and counters["hits"]["occurrences"] == 7
    assert counters["active"] is True
    deleted = client.delete(f"{SUPPRESSIONS}/{sid}", headers=creds.headers("analyst")).json()
    assert deleted["deleted"] is True and deleted["hits"]["alerts"] == 1
    client.post(
        INGEST, json={"batch_id": "n-3", "alerts": [held.to_ecs()]}, headers=creds.headers("sensor")
    )
    assert api_store.count_alerts(AlertQuery()) == 2
    actions = [
        e["action"]
        for e in client.get(
            "/api/v1/audit", params={"object_type": "suppression"}, headers=creds.headers("admin")
        ).json()["items"]
    ]
    assert actions == ["suppression.create", "suppression.delete"]


def test_a_threshold_lets_an_alert_through_once_it_repeats_enough(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    client.post(
        SUPPRESSIONS,
        json={
            "kind": "threshold",
            "rule_id": "brute_force.ssh",
            "min_count": 20,
            "reason": "typos",
        },
        headers=creds.headers("analyst"),
    )
    first = alert("brute_force.ssh", count=5)
    client.post(
        INGEST,
        json={"batch_id": "t-1", "alerts": [first.to_ecs()]},
        headers=creds.headers("sensor"),
    )
    assert api_store.count_alerts(AlertQuery()) == 0
    later = first.model_copy(update={"count": 20})
    client.post(
        INGEST,
        json={"batch_id": "t-2", "alerts": [later.to_ecs()]},
        headers=creds.headers("sensor"),
    )
    assert api_store.get_alert(first.id).count == 20


def test_an_expired_suppression_stops_holding_back(
    client: TestClient, creds: Credentials, api_app: FastAPI, api_clock: FixedClock
) -> None:
    expires = (api_clock.now() + timedelta(hours=1)).isoformat()
    client.post(
        SUPPRESSIONS, json={**SCANNER, "expires_at": expires}, headers=creds.headers("admin")
    )
    filt = api_app.state.services.noise.filter
    scan = alert("port_scan.vertical", src="198.51.100.1")
    assert filt([scan]) == []
    api_clock.advance(timedelta(hours=2))
    assert filt([scan]) == [scan]
    listed = client.get(SUPPRESSIONS, headers=creds.headers("analyst")).json()
    assert listed[0]["active"] is False


def test_matching_rules() -> None:
    import ipaddress

    rule = SuppressionRule(
        id="s",
        kind="suppress",
        rule_id=None,
        source=ipaddress.ip_network("2001:db8::/32"),
        destination=None,
        min_count=None,
        expires_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    assert rule.holds_back(alert(src="2001:db8::5"))
    assert not rule.holds_back(alert(src="198.51.100.1"))  # another family: no match, no error
    assert rule.active(datetime(2029, 1, 1, tzinfo=UTC))
    assert not rule.active(datetime(2030, 1, 1, tzinfo=UTC))


def test_aggregation_keys_per_rule(client: TestClient, creds: Credentials) -> None:
    h = creds.headers("analyst")
    url = "/api/v1/aggregation/port_scan.vertical"
    put = client.put(url, json={"fields": ["source.ip", "destination.port"]}, headers=h)
    assert put.status_code == 200 and put.json()["updated_by"] == "analyst"
    listed = client.get("/api/v1/aggregation", headers=creds.headers("auditor")).json()
    assert [(a["rule_id"], a["fields"]) for a in listed] == [
        ("port_scan.vertical", ["source.ip", "destination.port"])
    ]
    bad = client.put(url, json={"fields": ["source.mac"]}, headers=h)
    assert bad.status_code == 422 and "unknown alert field" in bad.json()["detail"]
    assert client.delete(url, headers=h).status_code == 204
    assert client.delete(url, headers=h).status_code == 404

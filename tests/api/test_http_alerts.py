"""Alerts through the API: search with the store's filters and pages, one alert with its
evidence, triage changes with versions, comments, bulk changes, and the audit trail of each."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from alerts.evidence import Evidence
from alerts.model import Severity
from alerts.stores import SqliteAlertStore
from tests.api.httpkit import T0, Credentials, alert, flow

ALERTS = "/api/v1/alerts"


@pytest.fixture
def seeded(api_store: SqliteAlertStore) -> list[str]:
    alerts = [
        alert("port_scan.vertical", src="203.0.113.7", at=T0, severity=Severity.MEDIUM),
        alert("port_scan.vertical", src="203.0.113.8", at=T0 + timedelta(minutes=1)),
        alert(
            "brute_force.ssh",
            src="192.0.2.66",
            at=T0 + timedelta(minutes=2),
            severity=Severity.CRITICAL,
            evidence=Evidence(flow_ids=["f1", "gone"]),
        ),
        alert(
            "yara:web:webshell",
            src="192.0.2.9",
            at=T0 + timedelta(minutes=3),
            data={"strings": [{"id": "$a", "offset": 10, "length": 4, "data": "eval"}]},
        ),
        alert(
            "anomaly.flows",
            src="192.0.2.10",
            at=T0 + timedelta(minutes=4),
            data={
                "model": "iforest",
                "score": 0.9,
                "threshold": 0.7,
                "explanation": "many more bytes than usual",
                "features": [],
            },
        ),
    ]
    api_store.upsert_alerts(alerts)
    api_store.add_flows([flow("f1", src="192.0.2.66")])
    return [a.id for a in alerts]


def test_search_filters_and_pages(
    client: TestClient, creds: Credentials, seeded: list[str]
) -> None:
    h = creds.headers("auditor")
    everything = client.get(ALERTS, params={"total": "true"}, headers=h).json()
    assert everything["total"] == 5
    assert [a["id"] for a in everything["items"]] == list(reversed(seeded))
    scans = client.get(ALERTS, params={"rule": "port_scan.vertical"}, headers=h).json()
    assert {a["id"] for a in scans["items"]} == set(seeded[:2])
    worst = client.get(ALERTS, params={"min_severity": "critical"}, headers=h).json()["items"]
    assert [a["id"] for a in worst] == [seeded[2]]
    by_net = client.get(ALERTS, params={"ip": "203.0.113.0/24"}, headers=h).json()["items"]
    assert len(by_net) == 2
    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(ALERTS, params=params, headers=h).json()
        pages.append([a["id"] for a in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == list(reversed(seeded))


@pytest.mark.parametrize(
    "params",
    [
        {"ip": "not-an-ip"},
        {"cursor": "garbage"},
        {"limit": 0},
        {"min_severity": "huge"},
        {"start": "2026-11-01T08:00:00"},
    ],
)
def test_bad_filters_are_422_problems(
    client: TestClient, creds: Credentials, params: dict[str, object]
) -> None:
    response = client.get(ALERTS, params=params, headers=creds.headers("analyst"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]


def test_aggregations(client: TestClient, creds: Credentials, seeded: list[str]) -> None:
    h = creds.headers("analyst")
    by_rule = client.get(f"{ALERTS}/aggregations", params={"by": "rule"}, headers=h).json()
    assert by_rule["buckets"][0] == {"key": "port_scan.vertical", "alerts": 2, "events": 2}
    by_time = client.get(
        f"{ALERTS}/aggregations", params={"by": "time", "interval": 3600}, headers=h
    ).json()
    assert sum(b["alerts"] for b in by_time["buckets"]) == 5


def test_one_alert_with_its_evidence(
    client: TestClient, creds: Credentials, seeded: list[str]
) -> None:
    h = creds.headers("responder")
    brute = client.get(f"{ALERTS}/{seeded[2]}", headers=h).json()
    assert [f["event"]["id"] for f in brute["flows"]] == ["f1"]
    assert brute["flows_missing"] == ["gone"]
    yara = client.get(f"{ALERTS}/{seeded[3]}", headers=h).json()
    assert yara["yara_strings"] == [{"id": "$a", "offset": 10, "length": 4, "data": "eval"}]
    anomaly = client.get(f"{ALERTS}/{seeded[4]}", headers=h).json()
    assert anomaly["anomaly"]["explanation"] == "many more bytes than usual"
    missing = client.get(f"{ALERTS}/nope", headers=h)
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


def test_triage_with_versions_comments_and_audit(
    client: TestClient, creds: Credentials, seeded: list[str]
) -> None:
    url = f"{ALERTS}/{seeded[0]}"
    h = creds.headers("analyst")
    ack = client.patch(
        url,
        json={
            "status": "acknowledged",
            "assignee": "analyst",
            "tags_add": ["scanner"],
            "expected_version": 0,
        },
        headers=h,
    )
    assert ack.status_code == 200, ack.text
    assert ack.json()["version"] == 1 and ack.json()["triage"]["tags"] == ["scanner"]
    stale = client.patch(url, json={"status": "open", "expected_version": 0}, headers=h)
    assert stale.status_code == 409 and stale.headers["content-type"] == "application/problem+json"
    no_reason = client.patch(url, json={"status": "closed"}, headers=h)
    assert no_reason.status_code == 409 and "reason" in no_reason.json()["detail"]
    closed = client.patch(
        url,
        json={
            "status": "closed",
            "close_reason": "false_positive",
            "comment": "our own scanner",
            "expected_version": 1,
        },
        headers=h,
    )
    assert closed.status_code == 200
    assert closed.json()["version"] == 3 and closed.json()["comments"][0]["author"] == "analyst"
    note = client.post(
        f"{url}/comments", json={"text": "seen again"}, headers=creds.headers("responder")
    )
    assert note.status_code == 201 and note.json()["author"] == "responder"
    detail = client.get(url, headers=h).json()
    assert len(detail["history"]) == 4
    audit = client.get(
        "/api/v1/audit", params={"object_id": seeded[0]}, headers=creds.headers("auditor")
    )
    entries = audit.json()["items"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("alert.update", "analyst"),
        ("alert.update", "analyst"),
        ("alert.comment", "responder"),
    ]
    assert entries[0]["before"]["triage"]["status"] == "open"
    assert entries[0]["after"]["triage"]["status"] == "acknowledged"
    # Nothing changed, nothing logged.
    same = client.patch(url, json={"assignee": "analyst"}, headers=h)
    assert same.status_code == 200
    again = client.get(
        "/api/v1/audit", params={"object_id": seeded[0]}, headers=creds.headers("admin")
    )
    assert len(again.json()["items"]) == 3


def test_bulk_changes_answer_per_alert(
    client: TestClient, creds: Credentials, seeded: list[str]
) -> None:
    client.patch(f"{ALERTS}/{seeded[1]}", json={"tags": ["done"]}, headers=creds.headers("admin"))
    body = {
        "alert_ids": [seeded[0], "missing-one", seeded[1], seeded[0]],
        "change": {"status": "closed", "close_reason": "benign_positive", "expected_version": 0},
    }
    result = client.post(f"{ALERTS}/bulk", json=body, headers=creds.headers("analyst")).json()
    outcomes = [(r["alert_id"], r["outcome"], r["status"]) for r in result["results"]]
    assert outcomes == [
        (seeded[0], "updated", 200),
        ("missing-one", "not_found", 404),
        (seeded[1], "conflict", 409),
    ]
    assert result["updated"] == 1 and result["failed"] == 2
    too_many = {"alert_ids": [f"a{i}" for i in range(501)], "change": {"status": "open"}}
    assert (
        client.post(f"{ALERTS}/bulk", json=too_many, headers=creds.headers("analyst")).status_code
        == 422
    )


def test_update_refuses_unknown_fields_and_bad_tags(
    client: TestClient, creds: Credentials, seeded: list[str]
) -> None:
    h = creds.headers("analyst")
    url = f"{ALERTS}/{seeded[0]}"
    assert client.patch(url, json={"severity": "low"}, headers=h).status_code == 422
    assert client.patch(url, json={"tags": ["two words"]}, headers=h).status_code == 422
    both = client.patch(url, json={"tags": ["a"], "tags_add": ["b"]}, headers=h)
    assert both.status_code == 422

"""Cases: opened from alerts, observables extracted, merged, commented, changed, and every change
in their history."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from alerts.model import Severity
from alerts.stores import SqliteAlertStore
from api.app.cases.observables import observables
from tests.api.httpkit import Credentials, alert

CASES = "/api/v1/cases"
CERT = "ab" * 32


@pytest.fixture
def alert_ids(api_store: SqliteAlertStore) -> list[str]:
    alerts = [
        alert("brute_force.ssh", src="192.0.2.66", severity=Severity.MEDIUM),
        alert(
            "yara:web:webshell",
            src="192.0.2.67",
            severity=Severity.CRITICAL,
            data={
                "file": {"hash": {"sha256": "C0" * 32}},
                "tls": {
                    "server_name": "evil.example.net",
                    "x509": {"fingerprint": {"sha256": CERT}},
                },
            },
        ),
        alert(
            "dns.tunnel", src="192.0.2.68", data={"dns": {"question": {"name": "x.tun.example"}}}
        ),
    ]
    api_store.upsert_alerts(alerts)
    return [a.id for a in alerts]


def test_a_case_from_alerts_with_observables(
    client: TestClient, creds: Credentials, alert_ids: list[str]
) -> None:
    made = client.post(
        CASES,
        json={"title": "Bastion attack", "alert_ids": alert_ids[:2]},
        headers=creds.headers("responder"),
    )
    assert made.status_code == 201, made.text
    case = made.json()
    assert case["severity"] == "critical" and case["tlp"] == "amber" and case["status"] == "open"
    assert set(case["alert_ids"]) == set(alert_ids[:2])
    found = {(o["kind"], o["value"]) for o in case["observables"]}
    assert {
        ("ip", "192.0.2.66"),
        ("ip", "198.51.100.10"),
        ("hash", "c0" * 32),
        ("certificate", CERT),
        ("domain", "evil.example.net"),
    } <= found


def test_unknown_alerts_and_bad_fields_are_refused(
    client: TestClient, creds: Credentials, alert_ids: list[str]
) -> None:
    h = creds.headers("analyst")
    missing = client.post(CASES, json={"title": "x", "alert_ids": ["nope"]}, headers=h)
    assert missing.status_code == 404
    assert client.post(CASES, json={"title": "x", "tlp": "white"}, headers=h).status_code == 422
    assert client.post(CASES, json={"title": ""}, headers=h).status_code == 422
    assert client.get(CASES, headers=h).json()["items"] == []


def test_merge_change_comment_and_history(
    client: TestClient, creds: Credentials, alert_ids: list[str]
) -> None:
    h = creds.headers("analyst")
    first = client.post(CASES, json={"title": "A", "alert_ids": [alert_ids[0]]}, headers=h).json()
    second = client.post(
        CASES, json={"title": "B", "alert_ids": [alert_ids[2]], "tlp": "red"}, headers=h
    ).json()
    client.post(f"{CASES}/{second['id']}/comments", json={"text": "tunnel to x"}, headers=h)
    merged = client.post(
        f"{CASES}/{first['id']}/merge", json={"case_ids": [second["id"]]}, headers=h
    )
    assert merged.status_code == 200
    body = merged.json()
    assert set(body["alert_ids"]) == {alert_ids[0], alert_ids[2]}
    assert ("domain", "x.tun.example") in {(o["kind"], o["value"]) for o in body["observables"]}
    assert [c["text"] for c in body["comments"]] == ["tunnel to x"]
    gone = client.get(f"{CASES}/{second['id']}", headers=h).json()
    assert gone["merged_into"] == first["id"] and gone["status"] == "closed"
    assert (
        client.patch(f"{CASES}/{second['id']}", json={"status": "open"}, headers=h).status_code
        == 409
    )
    changed = client.patch(
        f"{CASES}/{first['id']}",
        json={"status": "in_progress", "assignee": "rui", "severity": "high"},
        headers=h,
    )
    assert changed.json()["status"] == "in_progress" and changed.json()["severity"] == "high"
    added = client.post(
        f"{CASES}/{first['id']}/alerts", json={"alert_ids": [alert_ids[1]]}, headers=h
    )
    assert len(added.json()["alert_ids"]) == 3
    history = client.get(f"{CASES}/{first['id']}/history", headers=creds.headers("auditor")).json()
    assert [e["action"] for e in history["items"]] == [
        "case.create",
        "case.merge",
        "case.update",
        "case.add_alerts",
    ]
    assert history["items"][2]["before"]["status"] == "open"
    assert history["items"][2]["after"]["status"] == "in_progress"


def test_list_pages_newest_change_first(client: TestClient, creds: Credentials) -> None:
    h = creds.headers("analyst")
    ids = [
        client.post(CASES, json={"title": f"case {i}"}, headers=h).json()["id"] for i in range(5)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(CASES, params=params, headers=h).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    assert client.get(CASES, params={"cursor": "bogus"}, headers=h).status_code == 422
    opened = client.get(CASES, params={"status": "closed"}, headers=h).json()
    assert opened["items"] == []


def test_observables_are_bounded_and_typed() -> None:
    deep: dict[str, object] = {"host": "a.example.org"}
    for _ in range(20):
        deep = {"nested": deep}
    noisy = alert(
        data={
            "sni": "not a domain!",
            "md5": "zz",
            "sha1": "a" * 40,
            "deep": deep,
            "ips": [{"ip": "2001:db8::1"}, {"ip": "nonsense"}],
        }
    )
    found = observables(noisy)
    assert ("hash", "a" * 40) in found and ("ip", "2001:db8::1") in found
    assert not any(v in ("not a domain!", "zz", "nonsense", "a.example.org") for _, v in found)

"""The response routes through the app (its lifespan runs the engine thread): runs from an
alert, approvals checked against the step's roles, why a run waits and for whom, decline, dry
runs, cancel, triggers from ingest, and every decision in the audit log."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.evidence import Evidence
from alerts.model import Severity
from alerts.stores import SqliteAlertStore
from api.app.factory import create_app
from cityshield.clock import FixedClock
from response.settings import ResponseSettings
from tests.api.httpkit import Credentials, alert, api_settings, credentials

PLAYBOOK = """\
id: guarded
name: Block after a responder agrees
triggers:
  - rule: "brute_force.*"
    min_severity: high
steps:
  - id: tag
    action: alert.update
    with: {alert_id: "{{ alert.id }}", tags_add: [playbook]}
  - id: ok
    approval:
      approvers: {roles: [responder]}
      ttl: 30m
      reason: "Open a case about {{ alert.source.ip }}"
  - id: open-case
    action: case.create
    with: {title: "Guessing from {{ alert.source.ip }}", alert_ids: ["{{ alert.id }}"]}
"""
NOTE = """\
id: note-case
name: Note on the case
steps:
  - id: note
    action: case.update
    with: {case_id: "{{ case.id }}", status: in_progress, comment: "playbook on {{ case.title }}"}
"""
COLLECT = """\
id: collect
name: Keep the evidence
steps:
  - id: bundle
    action: evidence.collect
    with: {note: "for the case"}
"""
FAILING = """\
id: failing
name: A step that fails, then one after it
steps:
  - id: call
    action: http.request
    with: {url: "http://not-allowed.example/"}
  - id: after
    action: alert.update
    with: {alert_id: "{{ alert.id }}", tags_add: [after]}
"""
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(tmp_path: Path, api_store: SqliteAlertStore, api_clock: FixedClock) -> FastAPI:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "guarded.yaml").write_text(PLAYBOOK)
    (folder / "note-case.yaml").write_text(NOTE)
    (folder / "collect.yaml").write_text(COLLECT)
    (folder / "failing.yaml").write_text(FAILING)
    (folder / "scan-from-abroad.yaml").write_text(
        (REPO / "playbooks/scan-from-abroad.yaml").read_text()
    )
    (folder / "broken.yaml").write_text("id: broken\nname: b\nsteps: [{id: x, action: no.such}]\n")
    settings = ResponseSettings(
        db=str(tmp_path / "response.db"),
        playbooks_dir=folder,
        poll_seconds=0.05,
        evidence_dir=tmp_path / "bundles",
    )
    return create_app(api_settings(tmp_path), api_store, clock=api_clock, response=settings)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def who(app: FastAPI) -> Credentials:
    return credentials(app.state.services)


def until(http: TestClient, who: Credentials, run_id: str, *states: str) -> dict[str, Any]:
    """The run once the engine thread has brought it to one of ``states`` (bounded wait)."""
    deadline = time.monotonic() + 20
    while True:
        run: dict[str, Any] = http.get(
            f"/api/v1/response/runs/{run_id}", headers=who.headers("admin")
        ).json()
        if run["state"] in states or time.monotonic() > deadline:
            return run
        time.sleep(0.02)


def start(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore, role: str = "analyst"
) -> str:
    stored = alert("brute_force.ssh", src="203.0.113.200", severity=Severity.HIGH)
    api_store.upsert_alerts([stored])
    answer = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "guarded", "alert_id": stored.id},
        headers=who.headers(role),
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_playbooks_and_their_problems(http: TestClient, who: Credentials) -> None:
    answer = http.get("/api/v1/response/playbooks", headers=who.headers("auditor")).json()
    ids = [p["id"] for p in answer["items"]]
    assert ids == ["collect", "failing", "guarded", "note-case", "scan-from-abroad"]
    [problem] = answer["problems"]
    assert (
        problem["file"].endswith("broken.yaml") and problem["step"] == "x" and problem["line"] == 3
    )
    assert "unknown action 'no.such'" in problem["message"]


def test_approval_by_role_then_the_run_goes_on(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore
) -> None:
    run_id = start(http, who, api_store)
    run = until(http, who, run_id, "waiting")
    assert run["state"] == "waiting"
    assert "1 approval(s) from role responder" in run["reason"] and "203.0.113.200" in run["reason"]
    [approval] = run["approvals"]
    pending = http.get("/api/v1/response/approvals", headers=who.headers("auditor")).json()["items"]
    assert [a["id"] for a in pending] == [approval["id"]]
    assert (
        http.get("/api/v1/response/approvals?mine=true", headers=who.headers("analyst")).json()[
            "items"
        ]
        == []
    )

    refused = http.post(
        f"/api/v1/response/approvals/{approval['id']}/approve",
        json={"comment": "go"},
        headers=who.headers("analyst"),
    )
    assert refused.status_code == 403 and "role responder" in refused.json()["detail"]
    still = http.get(f"/api/v1/response/runs/{run_id}", headers=who.headers("admin")).json()
    assert still["state"] == "waiting" and still["approvals"][0]["state"] == "pending"

    ok = http.post(
        f"/api/v1/response/approvals/{approval['id']}/approve",
        json={"comment": "seen the flows, it is hostile"},
        headers=who.headers("responder"),
    )
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    run = until(http, who, run_id, "succeeded", "failed")
    assert run["state"] == "succeeded", run
    case_id = run["case_id"]
    case = http.get(f"/api/v1/cases/{case_id}", headers=who.headers("auditor")).json()
    assert case["title"] == "Guessing from 203.0.113.200" and len(case["alert_ids"]) == 1
    tagged = api_store.get_alert(run["alert_id"])
    assert "playbook" in tagged.triage.tags
    assert [s["state"] for s in run["steps"]] == ["succeeded"] * 3
    assert all(s["started_at"] and s["finished_at"] for s in run["steps"])

    audit = http.get(
        f"/api/v1/audit?object_type=playbook_run&object_id={run_id}&limit=100",
        headers=who.headers("auditor"),
    ).json()["items"]
    entries = [(e["action"], e["actor"]) for e in audit]
    assert ("playbook.run.start", "analyst") in entries
    assert ("playbook.approval.request", "engine") in entries
    assert ("playbook.approval.refused", "analyst") in entries
    assert ("playbook.approval.approve", "responder") in entries
    assert [a for a, _ in entries].count("playbook.step.finish") == 2
    approve = next(e for e in audit if e["action"] == "playbook.approval.approve")
    assert (
        approve["role"] == "responder"
        and approve["after"]["comment"] == "seen the flows, it is hostile"
    )
    history = http.get(
        f"/api/v1/response/runs/{run_id}/history", headers=who.headers("auditor")
    ).json()
    assert [e["kind"] for e in history["items"]][-1] == "run.finish"


def test_decline_stops_the_run(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore
) -> None:
    run_id = start(http, who, api_store, role="responder")
    [approval] = until(http, who, run_id, "waiting")["approvals"]
    declined = http.post(
        f"/api/v1/response/approvals/{approval['id']}/decline",
        json={"comment": "our own pentest"},
        headers=who.headers("responder"),
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    run = until(http, who, run_id, "declined")
    assert run["state"] == "declined" and run["case_id"] is None
    listed = http.get(
        f"/api/v1/response/runs?alert_id={run['alert_id']}&state=declined",
        headers=who.headers("auditor"),
    ).json()["items"]
    assert [r["id"] for r in listed] == [run_id]
    other = http.get("/api/v1/response/runs?playbook_id=collect", headers=who.headers("auditor"))
    assert other.json()["items"] == []
    again = http.post(
        f"/api/v1/response/approvals/{approval['id']}/approve",
        json={},
        headers=who.headers("admin"),
    )
    assert again.status_code == 409


def test_dry_run_and_cancel(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore
) -> None:
    stored = alert("port_scan.vertical", severity=Severity.HIGH)
    api_store.upsert_alerts([stored])
    answer = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "scan-from-abroad", "alert_id": stored.id, "dry_run": True},
        headers=who.headers("responder"),
    )
    run = until(http, who, answer.json()["id"], "succeeded", "failed")
    assert run["state"] == "succeeded" and run["dry_run"]
    plans = [s["plan"] for s in run["steps"]]
    assert plans[1].startswith("block 203.0.113.7 in nftables set inet cityshield for 21600s")
    assert api_store.get_alert(stored.id).triage.tags == []  # touched nothing

    run_id = start(http, who, api_store)
    until(http, who, run_id, "waiting")
    assert (
        http.post(
            f"/api/v1/response/runs/{run_id}/cancel", json={}, headers=who.headers("analyst")
        ).status_code
        == 403
    )
    cancelled = http.post(
        f"/api/v1/response/runs/{run_id}/cancel",
        json={"comment": "dup"},
        headers=who.headers("responder"),
    )
    assert cancelled.json()["state"] == "cancelled"
    assert (
        http.get("/api/v1/response/approvals", headers=who.headers("admin")).json()["items"] == []
    )


def test_bad_requests(http: TestClient, who: Credentials) -> None:
    h = who.headers("admin")
    assert (
        http.post("/api/v1/response/runs", json={"playbook_id": "nope"}, headers=h).status_code
        == 404
    )
    assert (
        http.post(
            "/api/v1/response/runs", json={"playbook_id": "guarded", "alert_id": "x"}, headers=h
        ).status_code
        == 404
    )
    bad = http.post(
        "/api/v1/response/runs", json={"playbook_id": "guarded", "inputs": {"zz": 1}}, headers=h
    )
    assert bad.status_code == 422 and "no input" in bad.json()["detail"]
    assert http.get("/api/v1/response/runs/run_nope", headers=h).status_code == 404
    assert (
        http.post("/api/v1/response/approvals/apr_nope/approve", json={}, headers=h).status_code
        == 404
    )


def test_ingested_alerts_start_triggered_runs(
    tmp_path: Path, api_store: SqliteAlertStore, api_clock: FixedClock
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "guarded.yaml").write_text(PLAYBOOK)
    settings = ResponseSettings(
        db=str(tmp_path / "response.db"), playbooks_dir=folder, poll_seconds=0.05
    )
    app = create_app(api_settings(tmp_path), api_store, clock=api_clock, response=settings)
    with TestClient(app, raise_server_exceptions=False) as http:
        who = credentials(app.state.services)
        hit = alert("brute_force.ssh", severity=Severity.HIGH)
        miss = alert("brute_force.ssh", src="203.0.113.8", severity=Severity.LOW)
        batch = {
            "batch_id": "b1",
            "alerts": [a.to_ecs() for a in (hit, miss)],
        }
        answer = http.post("/api/v1/ingest", json=batch, headers=who.headers("sensor"))
        assert answer.status_code in (200, 202), answer.text
        deadline = time.monotonic() + 20
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = http.get("/api/v1/response/runs", headers=who.headers("admin")).json()["items"]
            if runs and runs[0]["state"] == "waiting":
                break
            time.sleep(0.05)
        assert [(r["playbook_id"], r["alert_id"], r["state"]) for r in runs] == [
            ("guarded", hit.id, "waiting")
        ]
        assert runs[0]["started_by"] == "trigger:brute_force.ssh"


def test_a_run_about_a_case(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore
) -> None:
    stored = alert("brute_force.ssh")
    api_store.upsert_alerts([stored])
    case = http.post(
        "/api/v1/cases",
        json={"title": "Bastion guessing", "alert_ids": [stored.id]},
        headers=who.headers("responder"),
    ).json()
    started = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "note-case", "case_id": case["id"]},
        headers=who.headers("responder"),
    )
    assert started.status_code == 201 and started.json()["case_id"] == case["id"]
    run = until(http, who, started.json()["id"], "succeeded", "failed")
    assert run["state"] == "succeeded", run["reason"]
    after = http.get(f"/api/v1/cases/{case['id']}", headers=who.headers("auditor")).json()
    assert after["status"] == "in_progress"
    assert [c["text"] for c in after["comments"]] == ["playbook on Bastion guessing"]
    missing = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "note-case", "case_id": "nope"},
        headers=who.headers("responder"),
    )
    assert missing.status_code == 404


def test_evidence_from_a_sensors_ring(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore, tmp_path: Path
) -> None:
    """The sensor uploaded the alert's packets (its capture file is on the sensor, not here):
    the bundle holds exactly those bytes, hashed, and says where they came from."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    stored = alert(
        "brute_force.ssh", evidence=Evidence(capture_file="/on/the/sensor.pcap", frames=[1])
    )
    api_store.upsert_alerts([stored])
    wrpcap(str(tmp_path / "up.pcap"), [Ether() / IP(dst="198.51.100.10") / TCP(dport=22)])
    pcap = (tmp_path / "up.pcap").read_bytes()
    up = http.put(
        f"/api/v1/evidence?alert_id={stored.id}&status=complete",
        content=pcap,
        headers=who.headers("sensor"),
    )
    assert up.status_code == 200, up.text
    started = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "collect", "alert_id": stored.id},
        headers=who.headers("responder"),
    )
    run = until(http, who, started.json()["id"], "succeeded", "failed")
    assert run["state"] == "succeeded", run["reason"]
    result = run["steps"][0]["result"]
    bundle = Path(result["bundle"])
    assert bundle.parent == tmp_path / "bundles"
    assert (bundle / "packets.pcap").read_bytes() == pcap
    assert result["files"]["packets.pcap"]["sha256"] == hashlib.sha256(pcap).hexdigest()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert "dmz-tap-1's ring" in manifest["packets_from"]


def test_retry_and_skip_a_failed_step(
    http: TestClient, who: Credentials, api_store: SqliteAlertStore
) -> None:
    stored = alert("brute_force.ssh")
    api_store.upsert_alerts([stored])
    started = http.post(
        "/api/v1/response/runs",
        json={"playbook_id": "failing", "alert_id": stored.id},
        headers=who.headers("responder"),
    )
    run_id = started.json()["id"]
    run = until(http, who, run_id, "failed")
    assert run["state"] == "failed" and "not on the allow-list" in run["reason"]
    retry = f"/api/v1/response/runs/{run_id}/steps/call/retry"
    assert http.post(retry, json={}, headers=who.headers("analyst")).status_code == 403
    assert http.post(retry, json={}, headers=who.headers("responder")).status_code == 200
    run = until(http, who, run_id, "failed")
    assert run["steps"][0]["attempts"] == 2  # tried again, failed again
    skip = f"/api/v1/response/runs/{run_id}/steps/call/skip"
    skipped = http.post(skip, json={"comment": "filed by hand"}, headers=who.headers("admin"))
    assert skipped.status_code == 200
    run = until(http, who, run_id, "succeeded")
    assert [s["state"] for s in run["steps"]] == ["skipped", "succeeded"]
    assert "after" in api_store.get_alert(stored.id).triage.tags
    done = http.post(skip, json={}, headers=who.headers("admin"))
    assert done.status_code == 409

"""Packet evidence: a sensor uploads the packets of its alert; analysts download them as pcap and
read tshark's dissection; when there are none, the answer says why (not yet, sensor offline,
aged out of the sensor's ring, not from a sensor)."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from alerts.stores import SqliteAlertStore
from api.app.evidence.files import EvidenceFiles
from cityshield.clock import FixedClock
from tests.api.httpkit import Credentials, alert

DEMO = Path(__file__).resolve().parents[2] / "api" / "demo" / "egov-demo.pcap"
UPLOAD = "/api/v1/evidence"
PCAP = {"Content-Type": "application/vnd.tcpdump.pcap"}


def small_pcap() -> bytes:
    """The demo capture's header and first records (a valid pcap to upload)."""
    data = DEMO.read_bytes()
    end, records = 24, 0
    while records < 5:
        caplen = int.from_bytes(data[end + 8 : end + 12], "little")
        end += 16 + caplen
        records += 1
    return data[:end]


def heartbeat(client: TestClient, creds: Credentials) -> None:
    beat = client.post("/api/v1/sensors/heartbeat", json={}, headers=creds.headers("sensor"))
    assert beat.status_code == 200


def test_uploaded_packets_download_as_pcap_and_dissect(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    a = alert()
    api_store.upsert_alerts([a])
    pcap = small_pcap()
    params = {"alert_id": a.id, "status": "complete", "detail": "5 packets"}
    up = client.put(
        UPLOAD, params=params, content=pcap, headers={**creds.headers("sensor"), **PCAP}
    )
    assert up.status_code == 200, up.text
    got = client.get(f"/api/v1/alerts/{a.id}/packets", headers=creds.headers("analyst"))
    assert got.status_code == 200 and got.content == pcap
    assert got.headers["content-type"] == "application/vnd.tcpdump.pcap"
    assert got.headers["x-evidence-status"] == "complete"
    assert f'filename="alert-{a.id}.pcap"' in got.headers["content-disposition"]
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed: the dissection route was not exercised")
    text = client.get(f"/api/v1/alerts/{a.id}/dissection", headers=creds.headers("auditor"))
    assert text.status_code == 200
    assert text.text.count("Frame ") >= 5 and "Ethernet II" in text.text
    js = client.get(f"/api/v1/alerts/{a.id}/dissection?format=json&max_packets=2",
                    headers=creds.headers("analyst"))  # fmt: skip
    assert len(orjson.loads(js.content)) == 2


def test_uploads_are_checked(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    mine, theirs = alert(), alert("brute_force.ssh", observer="core-tap-9")
    api_store.upsert_alerts([mine, theirs])
    sensor = {**creds.headers("sensor"), **PCAP}
    pcap = small_pcap()

    def put(alert_id: str, body: bytes, status: str = "complete", **h: str) -> int:
        params = {"alert_id": alert_id, "status": status}
        return client.put(UPLOAD, params=params, content=body, headers=h or sensor).status_code

    assert put("no-such-alert", pcap) == 404
    assert put(theirs.id, pcap) == 403  # a sensor uploads only for its own alerts
    assert put(mine.id, b"<html>not a capture</html>") == 422
    assert put(mine.id, pcap, status="aged_out") == 422  # aged out comes without packets
    assert put(mine.id, pcap, **creds.headers("analyst")) == 403
    assert put("../../etc/passwd", pcap) in (404, 422)


def test_no_packets_says_why(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore, api_clock: FixedClock
) -> None:
    a, other = alert(), alert("brute_force.ssh", observer="lab-capture")
    api_store.upsert_alerts([a, other])
    url = f"/api/v1/alerts/{a.id}/packets"
    analyst = creds.headers("analyst")

    def detail(path: str = url) -> str:
        r = client.get(path, headers=analyst)
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        return str(r.json()["detail"])

    assert "is not heard from yet (last contact never)" in detail()
    heartbeat(client, creds)
    assert "has not uploaded the packets" in detail() and "yet" in detail()
    api_clock.advance(timedelta(minutes=10))
    assert "is offline (last contact 2026-11-22T09:00:00" in detail()
    params = {"alert_id": a.id, "status": "aged_out", "detail": "the ring reaches back to X"}
    up = client.put(UPLOAD, params=params, headers=creds.headers("sensor"))
    assert up.status_code == 200, up.text
    assert "aged out of sensor 'dmz-tap-1'" in detail() and "reaches back to X" in detail()
    assert "does not come from an enrolled sensor" in detail(f"/api/v1/alerts/{other.id}/packets")
    assert client.get("/api/v1/alerts/nope/packets", headers=analyst).status_code == 404


def test_evidence_on_the_central_service_is_bounded(tmp_path: Path) -> None:
    files = EvidenceFiles(tmp_path, max_bytes=250)
    pcap = small_pcap()[:100]
    for i, alert_id in enumerate(["a1", "a2", "a3"]):
        files.put(alert_id, pcap, {"alert_id": alert_id, "status": "complete"})
        os.utime(tmp_path / f"{alert_id}.pcap", ns=(i, i))  # upload order, whatever the clock
    assert files.pcap("a1") is None and files.pcap("a2") is not None
    assert files.pcap("a3") is not None
    note = files.note("a1")
    assert note is not None and note["status"] == "deleted" and "250 bytes" in note["detail"]

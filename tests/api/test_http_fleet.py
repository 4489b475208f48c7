"""Sensors: enrolment with a credential of their own, heartbeats and fleet health, revocation,
and the ingest endpoint (idempotent batch ids, gzip, size limits, 429 when the writer is busy)."""

from __future__ import annotations

import gzip
import threading
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.model import CloseReason, Triage, TriageStatus
from alerts.stores import SqliteAlertStore
from alerts.stores.base import AlertQuery, FlowQuery
from api.app.errors import TooMany
from api.app.fleet.batch import IngestBatch, IngestResult
from api.app.fleet.ingest import IngestJob, IngestQueue
from api.app.metrics import Metrics
from cityshield.clock import FixedClock
from tests.api.httpkit import SENSOR_NAME, Credentials, alert, api_settings, flow

INGEST = "/api/v1/ingest"
HEARTBEAT = "/api/v1/sensors/heartbeat"
STATS = {
    "packets_per_second": 1000.0,
    "packets_received": 100000,
    "packets_dropped": 10,
    "rule_version": "2026-11-20",
    "model_version": "anomaly-7",
}


def batch(batch_id: str, **parts: Any) -> dict[str, Any]:
    return {"batch_id": batch_id, **parts}


def test_enrolment_gives_the_sensor_its_own_credential(
    client: TestClient, creds: Credentials
) -> None:
    made = client.post(
        "/api/v1/sensors", json={"name": "core-tap-2"}, headers=creds.headers("admin")
    )
    assert made.status_code == 201
    body = made.json()
    token = body["credential"]["token"]
    assert body["credential"]["role"] == "sensor" and body["sensor"]["health"] == "never_seen"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me == {
        "name": "sensor:core-tap-2",
        "role": "sensor",
        "token_id": body["credential"]["id"],
        "sensor_id": body["sensor"]["id"],
    }
    again = client.post(
        "/api/v1/sensors", json={"name": "core-tap-2"}, headers=creds.headers("admin")
    )
    assert again.status_code == 409


def test_heartbeats_and_fleet_health(
    client: TestClient, creds: Credentials, api_clock: FixedClock
) -> None:
    beat = client.post(HEARTBEAT, json=STATS, headers=creds.headers("sensor"))
    assert beat.status_code == 200 and beat.json()["health"] == "healthy"
    fleet = client.get("/api/v1/sensors", headers=creds.headers("auditor")).json()
    assert fleet["health"] == {"healthy": 1} and fleet["packets_per_second"] == 1000.0
    assert fleet["sensors"][0]["stats"]["rule_version"] == "2026-11-20"
    api_clock.advance(timedelta(minutes=3))
    one = client.get(f"/api/v1/sensors/{creds.sensor_id}", headers=creds.headers("analyst"))
    assert one.json()["health"] == "stale"
    api_clock.advance(timedelta(minutes=3))
    assert client.get("/api/v1/sensors", headers=creds.headers("admin")).json()["health"] == {
        "offline": 1
    }
    dropping = {**STATS, "packets_dropped": 5000}
    assert (
        client.post(HEARTBEAT, json=dropping, headers=creds.headers("sensor")).json()["health"]
        == "degraded"
    )


def test_heartbeat_stats_are_validated(client: TestClient, creds: Credentials) -> None:
    bad = client.post(HEARTBEAT, json={"packets_dropped": -1}, headers=creds.headers("sensor"))
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    extra = client.post(HEARTBEAT, json={"cpu": 3}, headers=creds.headers("sensor"))
    assert extra.status_code == 422


def test_a_revoked_sensor_is_locked_out_and_a_rotated_credential_replaces_the_old(
    client: TestClient, creds: Credentials
) -> None:
    sid = creds.sensor_id
    rotated = client.post(f"/api/v1/sensors/{sid}/credential", headers=creds.headers("admin"))
    assert rotated.status_code == 201
    assert client.post(HEARTBEAT, json=STATS, headers=creds.headers("sensor")).status_code == 401
    new = {"Authorization": f"Bearer {rotated.json()['token']}"}
    assert client.post(HEARTBEAT, json=STATS, headers=new).status_code == 200
    revoked = client.post(f"/api/v1/sensors/{sid}/revoke", headers=creds.headers("admin"))
    assert revoked.json()["health"] == "revoked"
    assert client.post(HEARTBEAT, json=STATS, headers=new).status_code == 401
    actions = [
        e["action"]
        for e in client.get(
            "/api/v1/audit", params={"object_id": sid}, headers=creds.headers("admin")
        ).json()["items"]
    ]
    assert actions == ["sensor.enrol", "sensor.rotate", "sensor.revoke"]


def test_ingest_stores_flows_records_and_alerts(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    sent = alert().model_copy(
        update={"triage": Triage(status=TriageStatus.CLOSED, close_reason=CloseReason.OTHER)}
    )
    dns = {
        "event": {"id": "dns-1", "kind": "event"},
        "@timestamp": "2026-11-01T08:00:00.000000Z",
        "dns": {"question": {"name": "portal.example.gov"}},
        "observer": {"name": SENSOR_NAME},
    }
    body = batch(
        "b-1", flows=[flow("f1"), flow("f2")], alerts=[sent.to_ecs()], records={"dns": [dns]}
    )
    response = client.post(INGEST, json=body, headers=creds.headers("sensor"))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "batch_id": "b-1",
        "duplicate": False,
        "flows": 2,
        "records": 1,
        "alerts": 1,
        "alerts_suppressed": 0,
    }
    assert len(api_store.query_flows(FlowQuery())) == 2
    stored = api_store.get_alert(sent.id)
    assert stored.triage.status is TriageStatus.OPEN  # a sensor does not triage
    assert api_store.stats()["records"] == 1


def test_the_same_batch_twice_is_stored_once(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    body = batch("b-2", alerts=[alert(count=3).to_ecs()])
    first = client.post(INGEST, json=body, headers=creds.headers("sensor")).json()
    second = client.post(INGEST, json=body, headers=creds.headers("sensor")).json()
    assert first["duplicate"] is False and second["duplicate"] is True
    assert second["alerts"] == first["alerts"] == 1
    other = client.post(
        INGEST, json=batch("b-2", flows=[flow("f9")]), headers=creds.headers("sensor")
    )
    assert other.status_code == 409
    assert api_store.count_alerts(AlertQuery()) == 1


def test_gzip_bodies(client: TestClient, creds: Credentials) -> None:
    raw = orjson.dumps(batch("b-gz", flows=[flow(f"g{i}") for i in range(50)]))
    headers = {
        **creds.headers("sensor"),
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    response = client.post(INGEST, content=gzip.compress(raw), headers=headers)
    assert response.status_code == 200 and response.json()["flows"] == 50
    corrupt = client.post(INGEST, content=gzip.compress(raw)[:-20], headers=headers)
    assert corrupt.status_code == 422 and "gzip" in corrupt.json()["detail"]
    brotli = client.post(INGEST, content=raw, headers={**headers, "Content-Encoding": "br"})
    assert brotli.status_code == 422


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"flows": [flow("x", observer="someone-else")]}, "flows[0]: observer.name"),
        ({"flows": [{"observer": {"name": SENSOR_NAME}}]}, "flows[0] is not a flow document"),
        ({"flows": [{**flow("x"), "source": {"ip": "999.1.1.1"}}]}, "flows[0]"),
        ({"alerts": [{"observer": {"name": SENSOR_NAME}}]}, "alerts[0] is not an alert"),
        ({"records": {"dns": [{"observer": {"name": "x"}}]}}, "records.dns[0]"),
        ({"records": {"smtp": []}}, "records.smtp"),
        ({"flows": "lots"}, "flows"),
    ],
)
def test_bad_batches_say_what_and_where_and_store_nothing(
    client: TestClient,
    creds: Credentials,
    api_store: SqliteAlertStore,
    doc: dict[str, Any],
    where: str,
) -> None:
    body = {"batch_id": "bad", "flows": [flow("good")], **doc}
    response = client.post(INGEST, json=body, headers=creds.headers("sensor"))
    assert response.status_code == 422, response.text
    assert where in response.json()["detail"]
    assert api_store.query_flows(FlowQuery()) == []


def test_size_limits(tmp_path: Any, api_store: SqliteAlertStore, api_clock: FixedClock) -> None:
    from api.app.factory import create_app
    from tests.api.httpkit import credentials

    settings = api_settings(
        tmp_path,
        max_ingest_bytes=4096,
        max_ingest_decompressed_bytes=8192,
        max_batch_items=10,
        max_request_bytes=2048,
    )
    app = create_app(settings, api_store, clock=api_clock)
    with TestClient(app) as client:
        creds = credentials(app.state.services)
        headers = creds.headers("sensor")
        big = orjson.dumps(batch("big", flows=[flow(f"f{i}") for i in range(30)]))
        assert len(big) > 4096
        declared = client.post(INGEST, content=big, headers=headers)
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            for i in range(0, len(big), 1000):
                yield big[i : i + 1000]

        streamed = client.post(INGEST, content=chunks(), headers=headers)
        assert streamed.status_code == 413
        bomb = gzip.compress(b'{"batch_id": "bomb", "flows": [' + b" " * 3_000_000 + b"]}")
        assert len(bomb) < 4096
        gz = {**headers, "Content-Encoding": "gzip"}
        exploded = client.post(INGEST, content=bomb, headers=gz)
        assert exploded.status_code == 413 and "decompression" in exploded.json()["detail"]
        many = orjson.dumps(batch("many", flows=[flow(f"m{i}") for i in range(11)]))
        assert client.post(INGEST, content=gzip.compress(many), headers=gz).status_code == 413
        # Other routes have the smaller general limit.
        login = client.post("/api/v1/auth/login", content=b"x" * 3000)
        assert login.status_code == 413


def test_a_full_queue_answers_429_at_once() -> None:
    """The queue in front of the writer, with a writer held up on purpose."""
    release = threading.Event()
    started = threading.Event()

    def slow(job: IngestJob) -> IngestResult:
        started.set()
        release.wait(10)
        return IngestResult(
            batch_id=job.batch.batch_id, duplicate=False, flows=0, alerts=0, alerts_suppressed=0
        )

    from api.app.auth.principal import Principal
    from api.app.auth.roles import Role

    metrics = Metrics()
    queue = IngestQueue(slow, size=2, metrics=metrics)
    queue.start()
    caller = Principal(name="sensor:x", role=Role.SENSOR, sensor_id="s1")
    try:
        first = queue.submit(caller, "x", IngestBatch(batch_id="1"), "d1")
        assert started.wait(10)
        waiting = [queue.submit(caller, "x", IngestBatch(batch_id=str(i)), "d") for i in (2, 3)]
        with pytest.raises(TooMany) as refused:
            queue.submit(caller, "x", IngestBatch(batch_id="4"), "d4")
        assert refused.value.headers["Retry-After"] == "2"
        release.set()
        assert first.result(10).batch_id == "1"
        assert [w.result(10).batch_id for w in waiting] == ["2", "3"]
    finally:
        release.set()
        queue.stop()
    assert metrics.ingest_batches.labels("overloaded")._value.get() == 1


def test_ingest_is_counted_in_metrics(client: TestClient, creds: Credentials) -> None:
    client.post(INGEST, json=batch("m-1", flows=[flow("q")]), headers=creds.headers("sensor"))
    text = client.get("/metrics", headers=creds.headers("auditor")).text
    assert 'cityshield_ingest_batches_total{outcome="stored"} 1.0' in text
    assert 'cityshield_ingest_items_total{kind="flows"} 1.0' in text
    assert 'route="/api/v1/ingest"' in text


def test_app_fixture_is_what_the_tests_think(api_app: FastAPI) -> None:
    assert api_app.state.services.settings.environment == "development"

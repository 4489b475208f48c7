"""The service around the routes: problem+json from one place, health and readiness, metrics,
the OpenAPI document, settings that refuse placeholder secrets, the service database's schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alerts.stores import SqliteAlertStore
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase
from api.app.db.schema import LATEST_VERSION
from api.settings import Settings
from cityshield.errors import ConfigError, StoreError
from cityshield.settings import load_settings
from tests.api.httpkit import Credentials

PROBLEM = "application/problem+json"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"service_db": "ok", "alert_store": "ok", "ingest": "ok"}


def test_not_ready_when_the_store_is_gone(client: TestClient, api_store: SqliteAlertStore) -> None:
    api_store.close()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["alert_store"].startswith("failed")


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [("GET", "/nowhere", 404), ("DELETE", "/healthz", 405), ("POST", "/api/v1/auth/login", 422)],
)
def test_errors_are_problem_details(client: TestClient, method: str, url: str, status: int) -> None:
    response = client.request(method, url)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["instance"] == url


def test_an_unexpected_error_is_a_500_problem_without_internals(
    api_app: FastAPI, client: TestClient
) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals /etc/cityshield")

    api_app.add_api_route("/boom", boom)
    response = client.get("/boom")
    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM
    assert "internals" not in response.text


def test_store_failures_are_503_without_paths(
    client: TestClient, creds: Credentials, api_store: SqliteAlertStore, tmp_path: Path
) -> None:
    api_store.close()
    response = client.get("/api/v1/alerts", headers=creds.headers("analyst"))
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    assert str(tmp_path) not in response.text


def test_metrics_count_requests_by_route_template(client: TestClient, creds: Credentials) -> None:
    client.get("/api/v1/alerts/abc", headers=creds.headers("analyst"))
    client.get("/api/v1/alerts/def", headers=creds.headers("analyst"))
    text = client.get("/metrics", headers=creds.headers("admin")).text
    assert 'route="/api/v1/alerts/{alert_id}",status="404"} 2.0' in text
    assert "/api/v1/alerts/abc" not in text
    assert client.get("/metrics").status_code == 401


def test_openapi_has_examples_problems_and_the_ingest_schema(api_app: FastAPI) -> None:
    doc = api_app.openapi()
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    assert "IngestBatch" in schemas and "Problem" in schemas
    assert schemas["AlertUpdate"]["examples"] and schemas["SuppressionCreate"]["examples"]
    login = doc["paths"]["/api/v1/auth/login"]["post"]
    assert login["responses"]["401"]["content"][PROBLEM]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_placeholder_secrets_are_refused_outside_development() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        ApiSettings(bootstrap_admin="root", bootstrap_admin_password="changethis")
    dev = ApiSettings(
        environment="development", bootstrap_admin="root", bootstrap_admin_password="changethis"
    )
    assert "changethis" not in repr(dev)
    with pytest.raises(ValueError, match="together"):
        ApiSettings(tls_cert=Path("cert.pem"))


def test_the_api_section_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYSHIELD_API__PORT", "9443")
    monkeypatch.setenv("CITYSHIELD_API__BOOTSTRAP_ADMIN", "root")
    monkeypatch.setenv("CITYSHIELD_API__BOOTSTRAP_ADMIN_PASSWORD", "admin")
    with pytest.raises(ConfigError, match=r"api.*placeholder"):
        load_settings(Settings)
    monkeypatch.setenv("CITYSHIELD_API__BOOTSTRAP_ADMIN_PASSWORD", "a much better secret")
    assert load_settings(Settings).api.port == 9443


def test_the_service_database_is_versioned_and_refuses_strangers(tmp_path: Path) -> None:
    path = str(tmp_path / "service.db")
    db = ServiceDatabase(path)
    assert db.version == LATEST_VERSION
    db.close()
    assert ServiceDatabase(path).version == LATEST_VERSION  # reopening migrates nothing
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer CityShield"):
        ServiceDatabase(path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a CityShield service database"):
        ServiceDatabase(str(other))


def test_the_audit_log_is_append_only(tmp_path: Path, creds: Credentials) -> None:
    with sqlite3.connect(tmp_path / "service.db") as raw:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("UPDATE audit_log SET actor = 'someone else'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute("DELETE FROM audit_log")

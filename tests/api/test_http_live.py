"""The same service over real HTTP: uvicorn serving the app on a loopback port, with and without
TLS, spoken to by an HTTP client as a browser, a script or a sensor would."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import ssl
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from alerts.stores import SqliteAlertStore
from api.app.factory import create_app
from tests.api.httpkit import (
    PASSWORD,
    Credentials,
    alert,
    api_settings,
    credentials,
    flow,
    live_server,
)


def test_a_session_over_http(
    api_app: FastAPI, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    api_store.upsert_alerts([alert(), alert("brute_force.ssh")])
    with live_server(api_app) as url, httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/readyz").json()["status"] == "ok"
        assert http.get("/api/v1/alerts").status_code == 401
        login = http.post("/api/v1/auth/login", json={"username": "analyst", "password": PASSWORD})
        assert login.status_code == 201
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        page = http.get("/api/v1/alerts", params={"total": "true"}, headers=auth).json()
        assert page["total"] == 2
        one = page["items"][0]["id"]
        changed = http.patch(f"/api/v1/alerts/{one}", json={"status": "acknowledged"}, headers=auth)
        assert changed.status_code == 200 and changed.json()["version"] == 1
        assert http.post("/api/v1/auth/logout", headers=auth).status_code == 204
        assert http.get("/api/v1/alerts", headers=auth).status_code == 401


def test_a_sensor_over_http(
    api_app: FastAPI, creds: Credentials, api_store: SqliteAlertStore
) -> None:
    body = gzip.compress(orjson.dumps({"batch_id": "live-1", "flows": [flow("lf1")]}))
    headers = {
        **creds.headers("sensor"),
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    with live_server(api_app) as url, httpx.Client(base_url=url, timeout=30) as http:
        beat = http.post("/api/v1/sensors/heartbeat", json={}, headers=creds.headers("sensor"))
        assert beat.status_code == 200
        stored = http.post("/api/v1/ingest", content=body, headers=headers)
        assert stored.status_code == 200 and stored.json()["flows"] == 1
        again = http.post("/api/v1/ingest", content=body, headers=headers)
        assert again.json()["duplicate"] is True
    assert api_store.get_flow("lf1")["event"]["id"] == "lf1"


def test_limits_over_http(tmp_path: Path, api_store: SqliteAlertStore) -> None:
    # Small limits, so that the whole refused body fits in the socket buffers: the client gets
    # to read the 413 rather than a reset while it is still sending.
    app = create_app(api_settings(tmp_path, max_ingest_bytes=4096), api_store)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        sensor = credentials(app.state.services).headers("sensor")
        big = http.post("/api/v1/ingest", content=b"x" * 16384, headers=sensor)
        assert big.status_code == 413
        assert big.headers["content-type"] == "application/problem+json"
        assert http.get("/healthz").status_code == 200


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cityshield test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(api_app: FastAPI, creds: Credentials, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    with live_server(api_app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://")
        with httpx.Client(base_url=url, verify=trust, timeout=30) as http:
            me = http.get("/api/v1/auth/me", headers=creds.headers("auditor"))
            assert me.status_code == 200 and me.json()["role"] == "auditor"
        with (
            httpx.Client(base_url=url, timeout=30) as untrusting,
            pytest.raises(httpx.ConnectError),
        ):
            untrusting.get("/healthz")
        plain = url.replace("https://", "http://")
        with httpx.Client(base_url=plain, timeout=30) as http, pytest.raises(httpx.HTTPError):
            http.get("/healthz")

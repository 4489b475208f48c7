"""``cityshield serve`` and ``cityshield users`` as an operator runs them: separate processes,
the first admin made on the command line, then the API over HTTP (and TLS) on loopback."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.api.httpkit import free_port
from tests.api.test_http_live import self_signed

pytestmark = pytest.mark.e2e

CONFIG = """
log_level = "INFO"
[store.sqlite]
path = "alerts.db"
[api]
service_db = "service.db"
argon2_time_cost = 1
argon2_memory_kib = 8192
argon2_parallelism = 1
"""


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CITYSHIELD_CONFIG": str(cwd / "cityshield.toml")},
    )


@contextmanager
def serving(cwd: Path, *args: str, scheme: str = "http") -> Iterator[tuple[str, Path]]:
    port = free_port()
    log = cwd / "serve.log"
    env = {**os.environ, "CITYSHIELD_CONFIG": str(cwd / "cityshield.toml")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args],
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {log.read_text()}")
            try:
                httpx.get(f"{url}/healthz", verify=False, timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url, log
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: uvicorn shuts down cleanly
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_first_admin_then_the_api(tmp_path: Path) -> None:
    (tmp_path / "cityshield.toml").write_text(CONFIG)
    added = cli(
        "users",
        "add",
        "root",
        "--role",
        "admin",
        "--password-stdin",
        cwd=tmp_path,
        stdin="a first admin's password\n",
    )
    assert added.returncode == 0, added.stderr
    weak = cli(
        "users",
        "add",
        "eve",
        "--role",
        "analyst",
        "--password-stdin",
        cwd=tmp_path,
        stdin="short\n",
    )
    assert weak.returncode == 1 and "password" in weak.stderr
    token = cli("users", "token", "root", "--days", "1", cwd=tmp_path)
    assert token.returncode == 0 and token.stdout.startswith("cs_")
    listed = cli("users", "list", "--json", cwd=tmp_path)
    assert '"root"' in listed.stdout and token.stdout.strip() not in listed.stdout

    auth = {"Authorization": f"Bearer {token.stdout.strip()}"}
    with serving(tmp_path) as (url, log), httpx.Client(base_url=url, timeout=30) as http:
        assert http.get("/readyz").json()["status"] == "ok"
        made = http.post(
            "/api/v1/users",
            headers=auth,
            json={"username": "ana", "role": "analyst", "password": "ana's password"},
        )
        assert made.status_code == 201
        login = http.post(
            "/api/v1/auth/login", json={"username": "ana", "password": "ana's password"}
        )
        assert login.status_code == 201
        assert http.get("/api/v1/alerts", headers=auth).json()["items"] == []
        enrolled = http.post("/api/v1/sensors", json={"name": "tap-1"}, headers=auth).json()
        sensor = {"Authorization": f"Bearer {enrolled['credential']['token']}"}
        assert http.post("/api/v1/sensors/heartbeat", json={}, headers=sensor).status_code == 200
        http.post("/api/v1/auth/login", json={"username": "ana", "password": "wrong, logged?"})
    revoked = cli("users", "revoke", "root", cwd=tmp_path)
    assert revoked.returncode == 0
    text = log.read_text()
    assert "Application startup complete" in text and "GET /readyz" in text
    for secret in (
        "ana's password",
        "wrong, logged?",
        token.stdout.strip(),
        enrolled["credential"]["token"],
        login.json()["token"],
    ):
        assert secret not in text


def test_tls_when_a_certificate_is_configured(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "cityshield.toml").write_text(
        CONFIG + f'tls_cert = "{cert}"\ntls_key = "{key}"\nhost = "127.0.0.1"\n'
    )
    with (
        serving(tmp_path, scheme="https") as (url, _),
        httpx.Client(
            base_url=url, verify=ssl.create_default_context(cafile=str(cert)), timeout=30
        ) as http,
    ):
        assert http.get("/healthz").json()["status"] == "ok"


def test_plain_http_off_loopback_is_refused_in_production(tmp_path: Path) -> None:
    (tmp_path / "cityshield.toml").write_text(CONFIG)
    refused = cli("serve", "--host", "0.0.0.0", "--port", str(free_port()), cwd=tmp_path)
    assert refused.returncode == 1 and "refusing plain HTTP" in refused.stderr

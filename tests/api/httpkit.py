"""What the HTTP API tests share: cheap-but-real service settings, alerts and flows as detectors
and sensors make them, users of every role, and uvicorn serving an app on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from alerts.model import Alert, Endpoint, RuleRef, Severity
from api.app.auth.principal import CLI
from api.app.auth.roles import Role
from api.app.config import ApiSettings
from api.app.services import Services

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery 42"
PEOPLE = (Role.ADMIN, Role.ANALYST, Role.RESPONDER, Role.AUDITOR)
SENSOR_NAME = "dmz-tap-1"


def api_settings(tmp_path: Path, **overrides: Any) -> ApiSettings:
    """Development settings with argon2 at its smallest allowed cost: real hashes, fast tests."""
    values: dict[str, Any] = {
        "environment": "development",
        "service_db": str(tmp_path / "service.db"),
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "argon2_parallelism": 1,
        **overrides,
    }
    return ApiSettings(**values)


def alert(
    rule_id: str = "port_scan.vertical",
    *,
    src: str = "203.0.113.7",
    dst: str = "198.51.100.10",
    at: datetime = T0,
    severity: Severity = Severity.HIGH,
    observer: str = SENSOR_NAME,
    count: int = 1,
    **kwargs: Any,
) -> Alert:
    return Alert.raised(
        rule=RuleRef(id=rule_id, name=rule_id.replace(".", " ").replace("_", " ").title()),
        severity=severity,
        message=f"{rule_id} from {src}",
        observer=observer,
        first_seen=at,
        source=Endpoint(ip=src),
        destination=Endpoint(ip=dst, port=22),
        count=count,
        **kwargs,
    )


def flow(
    flow_id: str,
    *,
    src: str = "203.0.113.7",
    dst: str = "198.51.100.10",
    at: datetime = T0,
    observer: str = SENSOR_NAME,
) -> dict[str, Any]:
    def iso(t: datetime) -> str:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return {
        "@timestamp": iso(at),
        "event": {
            "id": flow_id,
            "kind": "event",
            "category": ["network"],
            "start": iso(at),
            "end": iso(at + timedelta(seconds=2)),
        },
        "network": {"transport": "tcp", "community_id": f"1:{flow_id}="},
        "source": {"ip": src, "port": 41000},
        "destination": {"ip": dst, "port": 22},
        "observer": {"name": observer},
        "cityshield": {"flow": {"conn_state": "SF"}},
    }


@dataclass
class Credentials:
    tokens: dict[str, str]
    sensor_id: str

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def credentials(services: Services) -> Credentials:
    """One user per person role (user name = role) with an API token, and an enrolled sensor."""
    tokens = {}
    for role in PEOPLE:
        services.auth.add_user(CLI, role.value, role, PASSWORD)
        tokens[role.value] = services.auth.create_token_for(CLI, role.value, "tests", 30).token
    enrolled = services.fleet.enrol(CLI, SENSOR_NAME, "test sensor")
    tokens[Role.SENSOR.value] = enrolled.credential.token
    return Credentials(tokens=tokens, sensor_id=enrolled.sensor.id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(app: FastAPI, **options: Any) -> Iterator[str]:
    """Uvicorn serving ``app`` on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    scheme = "https" if "ssl_certfile" in options else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

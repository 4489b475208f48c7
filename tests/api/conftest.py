"""A small capture with a port scan, an SSH brute force and ordinary traffic, and a way to run
the real ``cityshield`` command on it (a separate process, as a user runs it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scapy.packet import Packet
from scapy.utils import wrpcap

from alerts.stores import SqliteAlertStore
from api.app.factory import create_app
from cityshield.clock import FixedClock
from tests.api.httpkit import NOW, Credentials, api_settings, credentials
from tests.unit.detectors.conftest import T0, session, syn_probe

Run = Callable[..., subprocess.CompletedProcess[str]]


def attack_packets() -> list[Packet]:
    pkts: list[Packet] = []
    for port in range(1, 41):
        pkts += syn_probe(
            "192.0.2.66", "198.51.100.10", 40000, port, T0 + port * 0.01, answer="rst"
        )
    for i in range(20):
        banner = b"SSH-2.0-OpenSSH_9.6\r\n" + bytes(500)
        pkts += session("203.0.113.200", "198.51.100.22", 41000 + i, 22, T0 + 10 + i * 4,
                        client=b"k" * 800, server=banner)  # fmt: skip
    for i in range(5):
        pkts += session("203.0.113.5", "198.51.100.10", 50000 + i, 443, T0 + 20 + i, client=b"hi",
                        server=b"hello")  # fmt: skip
    return sorted(pkts, key=lambda p: float(p.time))


@pytest.fixture(scope="session")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("captures") / "attacks.pcap"
    wrpcap(str(path), attack_packets())
    return path


@pytest.fixture
def run(tmp_path: Path) -> Run:
    def cityshield(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
                   ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "api.cli", *args],
            cwd=tmp_path,
            input=stdin.decode("latin-1") if stdin is not None else None,
            capture_output=True,
            text=True,
            encoding="latin-1",
            timeout=120,
            env=env,
            check=False,
        )

    return cityshield


# ------------------------------------------------------------------ the HTTP API (test_http_*)


@pytest.fixture
def api_clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def api_store(tmp_path: Path, api_clock: FixedClock) -> Iterator[SqliteAlertStore]:
    with SqliteAlertStore(tmp_path / "alerts.db", api_clock) as opened:
        yield opened


@pytest.fixture
def api_app(tmp_path: Path, api_store: SqliteAlertStore, api_clock: FixedClock) -> FastAPI:
    return create_app(api_settings(tmp_path), api_store, clock=api_clock)


@pytest.fixture
def client(api_app: FastAPI) -> Iterator[TestClient]:
    """The app through its ASGI interface (lifespan included: the ingest writer runs)."""
    with TestClient(api_app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def creds(api_app: FastAPI) -> Credentials:
    return credentials(api_app.state.services)

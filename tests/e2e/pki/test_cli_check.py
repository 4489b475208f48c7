"""``cityshield pki check`` as a user runs it (a separate process): a chain file and a live local
TLS server (``ssl`` on loopback) with good, expired, self-signed and wrong-name certificates."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.pki.pkikit import CityPki, Credential

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)  # the CLI runs at the real time: certificates around it


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "pki", "check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@contextmanager
def tls_server(leaf: Credential, chain: list[bytes], tmp: Path) -> Iterator[int]:
    cert_file, key_file = tmp / "server.pem", tmp / "server.key"
    cert_file.write_bytes(leaf.pem() + b"".join(chain))
    key_file.write_bytes(leaf.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.fixture(scope="module")
def pki() -> CityPki:
    import tests.unit.pki.pkikit as kit

    kit.NOW = NOW  # type: ignore[misc]  # certificates valid around the real time
    return CityPki()


def test_file_json_valid_with_trust_option(pki: CityPki, tmp_path: Path) -> None:
    leaf = pki.leaf("portal.city.example")
    (tmp_path / "chain.pem").write_bytes(leaf.pem() + pki.issuing.pem())
    (tmp_path / "root.pem").write_bytes(pki.root.pem())
    result = run("chain.pem", "--trust", "root.pem", "--host", "portal.city.example",
                 "--revocation", "off", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is True and verdict["reasons"] == []


@pytest.mark.parametrize(
    ("make", "host", "reason"),
    [
        (lambda p: p.leaf("portal.city.example", not_before=NOW - timedelta(days=60),
                          not_after=NOW - timedelta(days=1)), "portal.city.example", "expired"),
        (lambda p: p.leaf("portal.city.example", self_signed=True), "portal.city.example",
         "self_signed"),
        (lambda p: p.leaf("other.example"), "portal.city.example", "hostname_mismatch"),
    ],
    ids=["expired", "self-signed", "wrong-name"],
)  # fmt: skip
def test_live_tls_server_verdicts(pki: CityPki, tmp_path: Path, make, host, reason) -> None:  # type: ignore[no-untyped-def]
    leaf = make(pki)
    (tmp_path / "root.pem").write_bytes(pki.root.pem())
    with tls_server(leaf, [pki.issuing.pem()], tmp_path) as port:
        result = run(f"127.0.0.1:{port}", "--host", host, "--trust", "root.pem",
                     "--revocation", "off", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert reason in json.loads(result.stdout)["reasons"]


def test_live_tls_server_good(pki: CityPki, tmp_path: Path) -> None:
    leaf = pki.leaf("localhost")
    (tmp_path / "root.pem").write_bytes(pki.root.pem())
    with tls_server(leaf, [pki.issuing.pem()], tmp_path) as port:
        result = run(f"127.0.0.1:{port}", "--host", "localhost", "--trust", "root.pem",
                     "--revocation", "off", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout and "City Issuing CA" in result.stdout


def test_malformed_file_is_one_line_with_the_place(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    result = run("bad.pem", cwd=tmp_path)
    assert result.returncode == 2
    assert "bad.pem" in result.stderr and "line 1" in result.stderr

"""``cityshield pki check`` as a user runs it (a separate process): a chain file and a live local
TLS server (``ssl`` on loopback) with good, expired, self-signed and wrong-name certificates."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.pki.pkikit import CityPki
from tests.unit.pki.tlsserver import tls_server

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)  # the CLI runs at the real time: certificates around it


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "pki", "check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki() -> CityPki:
    return CityPki(now=NOW)  # certificates valid around the real time


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
    with tls_server(leaf, [pki.issuing], tmp_path) as server:
        result = run(f"127.0.0.1:{server.port}", "--host", host, "--trust", "root.pem",
                     "--revocation", "off", "--json", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert reason in json.loads(result.stdout)["reasons"]


def test_live_tls_server_good(pki: CityPki, tmp_path: Path) -> None:
    leaf = pki.leaf("localhost")
    (tmp_path / "root.pem").write_bytes(pki.root.pem())
    with tls_server(leaf, [pki.issuing], tmp_path) as server:
        result = run(f"127.0.0.1:{server.port}", "--host", "localhost", "--trust", "root.pem",
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

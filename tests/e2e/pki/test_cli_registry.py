"""``cityshield pki registry`` as an operator runs it (separate processes, a settings file, a live
TLS server on loopback): register from the endpoint, scan, see a renewal, revoke (a CRL is
published), the daemon loop's passes, remove; alerts land in the alert store."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509

from alerts.stores import AlertQuery, SqliteAlertStore
from cityshield.clock import SystemClock
from tests.unit.pki.pkikit import CityPki
from tests.unit.pki.tlsserver import tls_server

pytestmark = pytest.mark.e2e
NAME = "portal.city.example"


def cityshield(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--config", str(folder / "cityshield.toml")],
        cwd=folder, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def settings_file(folder: Path, pki: CityPki) -> None:
    (folder / "root.pem").write_bytes(pki.root.pem())
    (folder / "ca.pem").write_bytes(pki.issuing.pem())
    (folder / "ca.key").write_bytes(pki.issuing.key_pem())
    (folder / "cityshield.toml").write_text(
        f"""
[sensor]
name = "pki-scanner"
[store.sqlite]
path = "{folder / "alerts.db"}"
[pki.trust.tls_server]
paths = ["{folder / "root.pem"}"]
revocation = "off"
[pki.registry]
path = "{folder / "registry.db"}"
ca_certificate = "{folder / "ca.pem"}"
ca_key = "{folder / "ca.key"}"
crl_path = "{folder / "crl" / "city.crl"}"
"""
    )


def stored_rules(folder: Path) -> list[str]:
    with SqliteAlertStore(folder / "alerts.db", SystemClock()) as store:
        return sorted(a.rule.id for a in store.query_alerts(AlertQuery()).items)


def test_register_scan_revoke_and_the_daemon_loop(tmp_path: Path) -> None:
    pki = CityPki(now=datetime.now(UTC))
    settings_file(tmp_path, pki)
    nothing = cityshield(tmp_path, "pki", "registry", "list")
    assert nothing.returncode == 3 and "no credential registry here yet" in nothing.stderr

    with tls_server(pki.leaf(NAME), [pki.issuing], tmp_path) as server:
        added = cityshield(tmp_path, "pki", "registry", "add", "--system", "citizen portal",
                           "--owner", "web team", "--endpoint", f"127.0.0.1:{server.port}",
                           "--server-name", NAME, "--json")  # fmt: skip
        assert added.returncode == 0, added.stderr
        credential = json.loads(added.stdout)
        assert credential["certificate"]["dns_names"] == [NAME]

        server.use(pki.leaf(NAME), [pki.issuing])  # renewed
        scanned = cityshield(tmp_path, "pki", "registry", "scan")
        assert scanned.returncode == 0, scanned.stdout + scanned.stderr
        assert "fingerprint_changed" in scanned.stdout and "1 alerts, 1 stored" in scanned.stdout
        assert stored_rules(tmp_path) == ["pki.fingerprint_changed"]

        revoked = cityshield(tmp_path, "pki", "registry", "revoke", credential["id"],
                             "--reason", "key_compromise", "--actor", "ana")  # fmt: skip
        assert revoked.returncode == 0, revoked.stderr
        assert "CRL number 1" in revoked.stdout
        crl = x509.load_der_x509_crl((tmp_path / "crl" / "city.crl").read_bytes())
        assert len(list(crl)) == 1

        loop = cityshield(tmp_path, "pki", "registry", "scan", "--every", "1", "--passes", "2",
                          "--json")  # fmt: skip
        assert loop.returncode == 0, loop.stderr
        passes = [json.loads(line) for line in loop.stdout.splitlines()]
        assert [[a["kind"] for a in p["alerts"]] for p in passes] == [["revoked_in_use"], []]
        assert stored_rules(tmp_path) == ["pki.fingerprint_changed", "pki.revoked_in_use"]

    listed = cityshield(tmp_path, "pki", "registry", "list")
    assert credential["id"] in listed.stdout and "revoked" in listed.stdout
    removed = cityshield(tmp_path, "pki", "registry", "remove", credential["id"])
    assert removed.returncode == 0 and credential["id"] in removed.stdout
    assert "no registered credentials" in cityshield(tmp_path, "pki", "registry", "list").stdout


def test_an_unreachable_endpoint_is_one_line(tmp_path: Path) -> None:
    settings_file(tmp_path, CityPki(now=datetime.now(UTC)))
    result = cityshield(tmp_path, "pki", "registry", "add", "--system", "x", "--owner", "y",
                        "--endpoint", "127.0.0.1:9")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: 127.0.0.1:9: cannot connect")

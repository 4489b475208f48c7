"""The PKI routes of the HTTP API served by uvicorn on loopback, built as ``cityshield serve``
builds them (``[pki]`` from a settings file): chain checks as JSON and as uploaded files, a live
TLS endpoint, and the credential registry's life: register, scan, revoke (a CRL is published and
an alert stored when the revoked certificate is still served), remove, with the audit trail."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from alerts.stores import AlertQuery, SqliteAlertStore
from api.app.factory import create_app
from api.composition import build_pki_components
from api.settings import settings_from
from cityshield.clock import FixedClock
from tests.api.httpkit import NOW, Credentials, api_settings, credentials, live_server
from tests.unit.pki.pkikit import CityPki
from tests.unit.pki.tlsserver import TlsServer, tls_server

pytestmark = pytest.mark.e2e
NAME = "portal.city.example"


@dataclass
class Service:
    url: str
    creds: Credentials
    store: SqliteAlertStore
    pki: CityPki
    folder: Path

    def call(self, role: str, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(
            method, f"{self.url}/api/v1{path}", headers=self.creds.headers(role), timeout=60, **kw
        )  # type: ignore[arg-type]


def config(folder: Path, pki: CityPki, *, ca: bool = True) -> Path:
    (folder / "root.pem").write_bytes(pki.root.pem())
    (folder / "ca.pem").write_bytes(pki.issuing.pem())
    (folder / "ca.key").write_bytes(pki.issuing.key_pem())
    lines = [
        "[pki]",
        "probe_timeout_seconds = 5",
        "[pki.trust.tls_server]",
        f'paths = ["{folder / "root.pem"}"]',
        'revocation = "off"',
        "[pki.registry]",
        f'path = "{folder / "registry.db"}"',
        f'crl_path = "{folder / "published" / "city.crl"}"',
    ]
    if ca:
        lines += [f'ca_certificate = "{folder / "ca.pem"}"', f'ca_key = "{folder / "ca.key"}"']
    path = folder / "cityshield.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    pki = CityPki(now=NOW)
    clock = FixedClock(NOW)
    settings = settings_from(config(tmp_path, pki))
    store = SqliteAlertStore(tmp_path / "alerts.db", clock)
    components = build_pki_components(settings, clock)
    app = create_app(api_settings(tmp_path), store, clock=clock, pki=components)
    creds = credentials(app.state.services)
    with live_server(app) as url:
        yield Service(url, creds, store, pki, tmp_path)
    components.close()
    store.close()


@pytest.fixture
def live(service: Service) -> Iterator[TlsServer]:
    pki = service.pki
    with tls_server(pki.leaf(NAME), [pki.issuing], service.folder) as server:
        yield server


def test_chain_checks_as_json_and_as_uploaded_files(service: Service) -> None:
    pki = service.pki
    leaf = pki.leaf(NAME)
    pem = (leaf.pem() + pki.issuing.pem()).decode()
    ok = service.call("analyst", "POST", "/pki/checks/chain", json={"pem": pem, "host": NAME})
    assert ok.status_code == 200, ok.text
    assert ok.json()["valid"] is True and ok.json()["reasons"] == []
    wrong = service.call("analyst", "POST", "/pki/checks/chain",
                         json={"pem": pem, "host": "tax.city.example"})  # fmt: skip
    assert wrong.json()["valid"] is False and wrong.json()["reasons"] == ["hostname_mismatch"]
    der = [
        base64.b64encode(c.cert.public_bytes(Encoding.DER)).decode() for c in (leaf, pki.issuing)
    ]
    by_der = service.call("responder", "POST", "/pki/checks/chain", json={"der_base64": der})
    assert by_der.json()["valid"] is True

    upload = httpx.post(
        f"{service.url}/api/v1/pki/checks/upload", params={"host": NAME},
        content=pem.encode(), timeout=60,
        headers={**service.creds.headers("analyst"), "Content-Type": "application/x-pem-file"},
    )  # fmt: skip
    assert upload.status_code == 200 and upload.json()["valid"] is True
    assert [c["subject"] for c in upload.json()["path"]][-1].startswith("CN=City Root CA")

    garbage = httpx.post(
        f"{service.url}/api/v1/pki/checks/upload", content=b"\x30\x82\xff\xff" + bytes(100),
        headers=service.creds.headers("analyst"), timeout=60,
    )  # fmt: skip
    assert garbage.status_code == 422
    assert garbage.headers["content-type"] == "application/problem+json"
    assert garbage.json()["detail"].startswith("body: not a DER certificate")
    enormous = httpx.post(
        f"{service.url}/api/v1/pki/checks/upload", content=pki.issuing.pem() * 65,
        headers=service.creds.headers("analyst"), timeout=60,
    )  # fmt: skip
    assert enormous.status_code == 422 and "more than 64 certificates" in enormous.json()["detail"]
    auditor = service.call("auditor", "POST", "/pki/checks/chain", json={"pem": pem})
    assert auditor.status_code == 403


def test_a_live_endpoint_is_checked_and_an_unreachable_one_named(
    service: Service, live: TlsServer
) -> None:
    body = {"host": "127.0.0.1", "port": live.port, "server_name": "tax.city.example"}
    verdict = service.call("analyst", "POST", "/pki/checks/endpoint", json=body)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["reasons"] == ["hostname_mismatch"] and live.handshakes == 1
    live.stop()
    gone = service.call("analyst", "POST", "/pki/checks/endpoint", json=body)
    assert gone.status_code == 422
    assert gone.json()["detail"].startswith(f"127.0.0.1:{live.port}: cannot connect")


def test_the_registry_from_registration_to_revocation(service: Service, live: TlsServer) -> None:
    add = {"system": "citizen portal", "owner": "web team", "host": "127.0.0.1",
           "port": live.port, "server_name": NAME}  # fmt: skip
    assert service.call("analyst", "POST", "/pki/registry", json=add).status_code == 403
    created = service.call("admin", "POST", "/pki/registry", json=add)
    assert created.status_code == 201, created.text
    credential = created.json()
    assert credential["endpoint"] == f"127.0.0.1:{live.port}" and credential["status"] == "active"
    again = service.call("admin", "POST", "/pki/registry", json=add)
    assert again.status_code == 409

    listed = service.call("auditor", "GET", "/pki/registry")
    assert [c["id"] for c in listed.json()] == [credential["id"]]
    scanned = service.call("responder", "POST", "/pki/registry/scan")
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["outcomes"][0]["status"] == "valid" and scanned.json()["alerts"] == []

    revoked = service.call("responder", "POST", f"/pki/registry/{credential['id']}/revoke",
                           json={"reason": "key_compromise"})  # fmt: skip
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["crl_number"] == 1
    crl = x509.load_der_x509_crl((service.folder / "published" / "city.crl").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(revoked.json()["serial"], 16))

    # The endpoint still serves the revoked certificate: the next scan says so, once.
    alerts = service.call("admin", "POST", "/pki/registry/scan").json()["alerts"]
    assert [a["rule"]["id"] for a in alerts] == ["pki.revoked_in_use"]
    stored = service.store.query_alerts(AlertQuery(rule_ids=["pki.revoked_in_use"])).items
    assert [a.data["credential_id"] for a in stored] == [credential["id"]]
    assert stored[0].destination is not None and stored[0].destination.ip == "127.0.0.1"
    assert service.call("admin", "POST", "/pki/registry/scan").json()["alerts"] == []

    one = service.call("analyst", "GET", f"/pki/registry/{credential['id']}").json()
    assert one["status"] == "revoked" and one["revocation_reason"] == "key_compromise"
    audit = service.call("auditor", "GET", "/audit", params={"object_type": "credential"}).json()
    assert [e["action"] for e in audit["items"]] == ["pki.credential.add", "pki.credential.revoke"]
    assert audit["items"][1]["actor"] == "responder"

    assert service.call("analyst", "DELETE", f"/pki/registry/{credential['id']}").status_code == 403
    gone = service.call("admin", "DELETE", f"/pki/registry/{credential['id']}")
    assert gone.status_code == 204
    missing = service.call("admin", "GET", f"/pki/registry/{credential['id']}")
    assert missing.status_code == 404


def test_revoking_without_a_city_ca_is_a_conflict(tmp_path: Path) -> None:
    pki = CityPki(now=NOW)
    clock = FixedClock(NOW)
    settings = settings_from(config(tmp_path, pki, ca=False))
    with SqliteAlertStore(tmp_path / "alerts.db", clock) as store:
        components = build_pki_components(settings, clock)
        app = create_app(api_settings(tmp_path), store, clock=clock, pki=components)
        creds = credentials(app.state.services)
        body = {"system": "signing", "owner": "x", "purpose": "document_signing",
                "pem": pki.leaf("signer").pem().decode()}  # fmt: skip
        with live_server(app) as url:
            headers = creds.headers("admin")
            created = httpx.post(f"{url}/api/v1/pki/registry", json=body, headers=headers)
            answer = httpx.post(
                f"{url}/api/v1/pki/registry/{created.json()['id']}/revoke", json={},
                headers=headers,
            )  # fmt: skip
        components.close()
    assert answer.status_code == 409
    assert "ca_certificate" in answer.json()["detail"]

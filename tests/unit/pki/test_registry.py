"""The credential registry's service on a real city PKI: registration from a file or from a live
TLS server on loopback, expiry thresholds, scans that see renewals, swapped issuers, failures and
outages, revocation that issues a CRL the checker honours, revocation learnt from OCSP, and what a
sensor's passive sighting reports."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from cityshield.clock import FixedClock
from cityshield.errors import DecodeError
from pki.checker import CheckOptions
from pki.issuing import IssuingCa
from pki.model import Purpose, RevocationMode, fingerprint
from pki.reasons import Reason
from pki.registry import RegistryService
from pki.registry_model import CredentialCreate, EventKind, RevocationReason
from pki.registry_store import CredentialRegistry
from pki.revoking import RevocationRefused
from pki.rfc5280 import RevocationInputs
from pki.service import build_service
from pki.settings import PkiSettings, RegistrySettings, TrustStoreSettings
from tests.unit.pki.pkikit import NOW, CityPki, Credential, make_ca, make_leaf
from tests.unit.pki.tlsserver import TlsServer, tls_server

NAME = "portal.city.example"


def registry_for(
    pki: CityPki,
    folder: Path,
    clock: FixedClock,
    *,
    revocation: RevocationMode = RevocationMode.OFF,
    ca: bool = True,
) -> RegistryService:
    (folder / "root.pem").write_bytes(pki.root.pem())
    trust = TrustStoreSettings(paths=[folder / "root.pem"], revocation=revocation)
    settings = PkiSettings(
        trust={Purpose.TLS_SERVER: trust},
        registry=RegistrySettings(path=":memory:", crl_path=folder / "crl" / "city.crl"),
        probe_timeout_seconds=5,
    )
    issuing = IssuingCa(pki.issuing.cert, pki.issuing.key) if ca else None  # type: ignore[arg-type]
    return RegistryService(
        CredentialRegistry(":memory:"), build_service(settings, clock), settings.registry, clock,
        issuing,
    )  # fmt: skip


def endpoint(server: TlsServer, **kw: object) -> CredentialCreate:
    return CredentialCreate.model_validate(
        {"system": "portal", "owner": "ana", "host": "127.0.0.1", "port": server.port,
         "server_name": NAME, **kw}
    )  # fmt: skip


def from_file(leaf: Credential, system: str = "signing") -> CredentialCreate:
    return CredentialCreate(
        system=system, owner="ana", purpose=Purpose.DOCUMENT_SIGNING, pem=leaf.pem().decode()
    )


@pytest.fixture
def pki() -> CityPki:
    return CityPki()


@pytest.fixture
def live(pki: CityPki, tmp_path: Path) -> Iterator[TlsServer]:
    with tls_server(pki.leaf(NAME), [pki.issuing], tmp_path) as server:
        yield server


def test_register_from_a_file_or_from_the_endpoint(
    pki: CityPki, live: TlsServer, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    signer = pki.leaf("signer")
    filed = registry.add(from_file(signer), by="ana")
    assert filed.certificate.sha256 == fingerprint(signer.cert) and filed.endpoint is None
    fetched = registry.add(endpoint(live), by="ana")
    assert fetched.certificate.dns_names == [NAME] and live.handshakes == 1
    assert fetched.endpoint == f"127.0.0.1:{live.port}" and fetched.name == NAME
    with pytest.raises(DecodeError, match="give the certificate"):
        registry.add(CredentialCreate(system="x", owner="y"), by="ana")
    with pytest.raises(DecodeError, match="tls_server"):
        registry.add(endpoint(live, purpose="document_signing"), by="ana")
    with pytest.raises(DecodeError, match="line 1"):
        registry.add(CredentialCreate(system="x", owner="y", pem="-----BEGIN CERTIFICATE-----\n"
                                      "AAAA\n-----END CERTIFICATE-----\n"), by="ana")  # fmt: skip


def test_expiry_thresholds_alert_once_each_then_expired_once(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    registry.add(from_file(pki.leaf("signer", not_after=NOW + timedelta(days=40))), by="ana")
    seen: list[tuple[EventKind, object]] = []
    for days in (0, 11, 0, 16, 7, 0, 7, 0, 30):
        clock.advance(timedelta(days=days))
        seen += [(e.kind, e.details.get("threshold_days")) for e in registry.expiry()]
    assert seen == [
        (EventKind.EXPIRING, 30),
        (EventKind.EXPIRING, 14),
        (EventKind.EXPIRING, 7),
        (EventKind.EXPIRED, None),
    ]


def test_a_credential_registered_days_before_expiry_alerts_its_nearest_threshold(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    registry.add(from_file(pki.leaf("signer", not_after=NOW + timedelta(days=5))), by="ana")
    events = registry.expiry()
    assert [(e.kind, e.details["threshold_days"], e.details["days_left"]) for e in events] == [
        (EventKind.EXPIRING, 7, 5)
    ]
    assert "expires in 5 days" in events[0].message


def test_scans_see_a_renewal_a_foreign_issuer_and_an_outage_once_each(
    pki: CityPki, live: TlsServer, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    added = registry.add(endpoint(live), by="ana")

    def scan() -> list[EventKind]:
        return sorted(e.kind for e in registry.scan().events)

    report = registry.scan()
    assert report.events == [] and report.outcomes[0].status == "valid"
    renewed = pki.leaf(NAME)
    live.use(renewed, [pki.issuing])
    assert scan() == [EventKind.FINGERPRINT_CHANGED]
    assert scan() == []
    assert registry.get(added.id).certificate.sha256 == fingerprint(renewed.cert)

    foreign_ca = make_ca("Foreign Issuing CA", make_ca("Foreign Root CA", None))
    live.use(make_leaf(foreign_ca, NAME), [foreign_ca])
    report = registry.scan()
    kinds = {e.kind: e for e in report.events}
    assert set(kinds) == {EventKind.ISSUER_CHANGED, EventKind.ENDPOINT_INVALID}
    assert kinds[EventKind.ISSUER_CHANGED].details["previous_sha256"] == fingerprint(renewed.cert)
    assert "untrusted_issuer" in kinds[EventKind.ENDPOINT_INVALID].details["reasons"]  # type: ignore[operator]
    assert kinds[EventKind.ENDPOINT_INVALID].ip == "127.0.0.1"
    assert report.outcomes[0].status == "invalid"
    assert scan() == []

    live.stop()
    report = registry.scan()
    assert [e.kind for e in report.events] == [EventKind.ENDPOINT_UNREACHABLE]
    assert report.outcomes[0].status == "unreachable" and report.outcomes[0].error
    assert scan() == []
    assert registry.get(added.id).last_scan == "unreachable"


def test_revoking_issues_a_crl_that_the_checker_honours(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    leaves = [pki.leaf(NAME), pki.leaf("mail.city.example")]
    ids = [registry.add(from_file(leaf, f"s{i}"), by="ana").id for i, leaf in enumerate(leaves)]
    done = registry.revoke(ids[0], RevocationReason.KEY_COMPROMISE, by="responder")
    assert done.crl_number == 1 and not done.already_revoked
    assert done.serial == format(leaves[0].cert.serial_number, "x")
    assert done.crl_path == str(tmp_path / "crl" / "city.crl")
    crl = x509.load_der_x509_crl((tmp_path / "crl" / "city.crl").read_bytes())
    assert crl.issuer == pki.issuing.cert.subject
    entry = crl.get_revoked_certificate_by_serial_number(leaves[0].cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.key_compromise
    )

    # The published CRL, given to the checker, makes the certificate revoked from then on.
    clock.advance(timedelta(minutes=1))
    checker = registry.checks.checker
    given = RevocationInputs(crls=[(tmp_path / "crl" / "city.crl").read_bytes()])
    options = CheckOptions(host=NAME, revocation=RevocationMode.HARD_FAIL, given=given, fetch=False)
    assert checker.check([leaves[0].cert, pki.issuing.cert], options).reasons == [Reason.REVOKED]
    mail = CheckOptions(
        host="mail.city.example", revocation=RevocationMode.HARD_FAIL, given=given, fetch=False
    )
    assert checker.check([leaves[1].cert, pki.issuing.cert], mail).valid

    again = registry.revoke(ids[0], RevocationReason.SUPERSEDED, by="someone")
    assert again.already_revoked and again.crl_number == 1
    assert again.reason is RevocationReason.KEY_COMPROMISE and again.revoked_by == "responder"
    second = registry.revoke(ids[1], RevocationReason.CESSATION_OF_OPERATION, by="responder")
    assert second.crl_number == 2
    latest = x509.load_der_x509_crl((tmp_path / "crl" / "city.crl").read_bytes())
    assert {r.serial_number for r in latest} == {leaf.cert.serial_number for leaf in leaves}


def test_revocation_is_refused_without_a_ca_and_for_another_cas_certificate(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    without = registry_for(pki, tmp_path, clock, ca=False)
    credential = without.add(from_file(pki.leaf("signer")), by="ana")
    with pytest.raises(RevocationRefused, match="ca_certificate"):
        without.revoke(credential.id, RevocationReason.UNSPECIFIED, by="ana")
    registry = registry_for(pki, tmp_path, clock)
    foreign = make_leaf(make_ca("Foreign Issuing CA", None), "signer")
    other = registry.add(from_file(foreign), by="ana")
    with pytest.raises(RevocationRefused, match="its own CA must revoke it"):
        registry.revoke(other.id, RevocationReason.UNSPECIFIED, by="ana")
    assert not (tmp_path / "crl" / "city.crl").exists()


def test_a_revoked_certificate_still_served_alerts_once(
    pki: CityPki, live: TlsServer, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    credential = registry.add(endpoint(live), by="ana")
    registry.revoke(credential.id, RevocationReason.KEY_COMPROMISE, by="responder")
    events = registry.scan().events
    assert [e.kind for e in events] == [EventKind.REVOKED_IN_USE]
    assert events[0].details["revoked_by_registry"] is True
    assert "key_compromise" in events[0].message
    assert registry.scan().events == []
    # A revoked credential gets no expiry alerts: it is not to be renewed but replaced.
    clock.advance(timedelta(days=200))
    assert registry.expiry() == []


def test_revocation_learnt_from_ocsp_is_a_revoked_in_use_alert(
    served: tuple[CityPki, object], tmp_path: Path, clock: FixedClock
) -> None:
    pki, responder = served
    leaf = pki.leaf(NAME)
    responder.revoked[leaf.cert.serial_number] = NOW - timedelta(days=1)  # type: ignore[attr-defined]
    registry = registry_for(pki, tmp_path, clock, revocation=RevocationMode.SOFT_FAIL)
    with tls_server(leaf, [pki.issuing], tmp_path) as server:
        registry.add(endpoint(server), by="ana")
        report = registry.scan()
    assert report.outcomes[0].reasons == ["revoked"]
    assert [e.kind for e in report.events] == [EventKind.REVOKED_IN_USE]
    assert report.events[0].details["revoked_by_registry"] is False


def test_a_sensor_sighting_of_another_certificate_is_a_change(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    registry = registry_for(pki, tmp_path, clock)
    first = pki.leaf(NAME)
    registry.add(
        CredentialCreate(system="portal", owner="ana", host=NAME, pem=first.pem().decode()),
        by="ana",
    )
    other = pki.leaf(NAME)
    assert registry.observe(NAME, first.cert, at=NOW, ip="192.0.2.10", port=443) == []
    assert registry.observe(NAME, other.cert, at=NOW, ip="192.0.2.10", port=8443) == []
    assert registry.observe("other.example", other.cert, at=NOW, ip="192.0.2.10", port=443) == []
    events = registry.observe(NAME.upper(), other.cert, at=NOW, ip="192.0.2.10", port=443)
    assert [(e.kind, e.source, e.ip) for e in events] == [
        (EventKind.FINGERPRINT_CHANGED, "passive", "192.0.2.10")
    ]
    assert registry.observe(NAME, other.cert, at=NOW, ip="192.0.2.10", port=443) == []


def test_a_mail_server_is_scanned_through_starttls(
    pki: CityPki, tmp_path: Path, clock: FixedClock
) -> None:
    """aiosmtpd on loopback with STARTTLS required (RFC 3207): the scan takes the chain after it."""
    import ssl

    from aiosmtpd.controller import Controller

    leaf = pki.leaf("mail.city.example")
    (tmp_path / "mail.pem").write_bytes(leaf.pem() + pki.issuing.pem())
    (tmp_path / "mail.key").write_bytes(leaf.key_pem())
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "mail.pem", tmp_path / "mail.key")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = Controller(
        object(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    server.start()
    try:
        registry = registry_for(pki, tmp_path, clock)
        create = CredentialCreate(system="mail", owner="ops", host="127.0.0.1", port=port,
                                  server_name="mail.city.example", starttls="smtp")  # fmt: skip
        credential = registry.add(create, by="ana")
        report = registry.scan()
    finally:
        server.stop()
    assert credential.certificate.sha256 == fingerprint(leaf.cert)
    assert [(o.status, o.reasons) for o in report.outcomes] == [("valid", [])]

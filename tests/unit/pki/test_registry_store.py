"""The credential registry's SQLite store: schema versions, registrations and their conflicts,
notices given once, certificate changes recorded once, revocations with cumulative CRLs."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from cityshield.errors import ConflictError, NotFoundError, StoreError
from pki.issuing import IssuingCa, RevokedEntry, issue_crl
from pki.model import fingerprint
from pki.registry_model import CredentialStatus, RevocationReason
from pki.registry_store import CredentialRegistry, IssuedCrl, NewCredential, RevocationRow
from tests.unit.pki.pkikit import NOW, CityPki


def new(
    id_: str, host: str | None = "portal.city.example", port: int = 443, **kw: str
) -> NewCredential:
    return NewCredential(
        id=id_, system=kw.get("system", "portal"), owner="ana", host=host,
        port=port if host else None, server_name=kw.get("server_name"), starttls=None,
        purpose="tls_server",
    )  # fmt: skip


def test_a_new_registry_has_the_latest_schema_and_keeps_data(tmp_path: Path) -> None:
    pki = CityPki()
    path = str(tmp_path / "registry.db")
    with CredentialRegistry(path) as registry:
        assert registry.version == 1
        registry.add(new("a"), pki.leaf("portal.city.example").cert, at=NOW, by="ana")
    with CredentialRegistry(path) as again:
        assert [c.id for c in again.credentials()] == ["a"]


def test_a_newer_or_foreign_database_is_refused(tmp_path: Path) -> None:
    newer, foreign = tmp_path / "newer.db", tmp_path / "foreign.db"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        CredentialRegistry(str(newer))
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a CityShield credential registry"):
        CredentialRegistry(str(foreign))


def test_add_get_list_and_filters() -> None:
    pki = CityPki()
    leaf = pki.leaf("portal.city.example")
    with CredentialRegistry(":memory:") as registry:
        registry.add(new("a", server_name="Portal.City.Example"), leaf.cert, at=NOW, by="ana")
        registry.add(new("b", host=None, system="signing"), pki.leaf("signer").cert, at=NOW, by="x")
        got = registry.get("a")
        assert got.certificate.sha256 == fingerprint(leaf.cert)
        assert got.endpoint == "portal.city.example:443" and got.status is CredentialStatus.ACTIVE
        assert got.added_by == "ana" and got.added_at == NOW
        assert [c.id for c in registry.credentials(system="signing")] == ["b"]
        assert [c.id for c in registry.by_name("portal.city.example.", 443)] == ["a"]
        assert registry.by_name("portal.city.example", 8443) == []
        assert registry.names() == frozenset({"portal.city.example"})
        with pytest.raises(NotFoundError):
            registry.get("nope")


def test_one_registration_per_endpoint_and_a_certificate_once_per_system() -> None:
    pki = CityPki()
    leaf = pki.leaf("portal.city.example")
    with CredentialRegistry(":memory:") as registry:
        registry.add(new("a"), leaf.cert, at=NOW, by="ana")
        with pytest.raises(ConflictError, match=r"portal\.city\.example:443 is registered already"):
            registry.add(new("b"), pki.leaf("portal.city.example").cert, at=NOW, by="ana")
        with pytest.raises(ConflictError, match="registered for portal already"):
            registry.add(new("c", port=8443), leaf.cert, at=NOW, by="ana")
        registry.add(new("d", port=8443, system="intranet"), leaf.cert, at=NOW, by="ana")


def test_notices_are_given_once_cleared_and_removed_with_the_credential() -> None:
    pki = CityPki()
    with CredentialRegistry(":memory:") as registry:
        registry.add(new("a"), pki.leaf("portal.city.example").cert, at=NOW, by="ana")
        assert registry.notice("a", "expiry", "x:30", at=NOW)
        assert not registry.notice("a", "expiry", "x:30", at=NOW)
        registry.clear_notices("a", "expiry")
        assert registry.notice("a", "expiry", "x:30", at=NOW)
        assert not registry.notice("missing", "expiry", "x:30", at=NOW)
        registry.remove("a")
        registry.add(new("a"), pki.leaf("portal.city.example").cert, at=NOW, by="ana")
        assert registry.notice("a", "expiry", "x:30", at=NOW)


def test_a_change_is_recorded_once_with_its_history() -> None:
    pki = CityPki()
    first, second = pki.leaf("portal.city.example"), pki.leaf("portal.city.example")
    with CredentialRegistry(":memory:") as registry:
        registry.add(new("a"), first.cert, at=NOW, by="ana")
        expected = fingerprint(first.cert)
        later = NOW + timedelta(days=1)
        assert registry.replace_certificate(
            "a", second.cert, expected=expected, at=later, source="scan"
        )
        # A second observer that saw the same change from the old state records nothing.
        assert not registry.replace_certificate(
            "a", second.cert, expected=expected, at=later, source="passive"
        )
        assert registry.get("a").certificate.sha256 == fingerprint(second.cert)
        history = registry.history("a")
        assert [h["source"] for h in history] == ["registered", "scan"]
        assert history[1]["previous_sha256"] == expected and history[1]["at"] == later


def test_revocations_make_cumulative_crls_with_growing_numbers() -> None:
    pki = CityPki()
    ca = IssuingCa(pki.issuing.cert, pki.issuing.key)  # type: ignore[arg-type]
    leaves = [pki.leaf("portal.city.example"), pki.leaf("mail.city.example")]
    ca_sha = fingerprint(ca.certificate)

    def sign(entries: list[RevokedEntry], number: int) -> IssuedCrl:
        der = issue_crl(ca, entries, number=number, this_update=NOW)
        return IssuedCrl(number, NOW + timedelta(days=7), der)

    with CredentialRegistry(":memory:") as registry:
        for i, leaf in enumerate(leaves):
            registry.add(new(f"c{i}", port=443 + i), leaf.cert, at=NOW, by="ana")
        crls = []
        for i, leaf in enumerate(leaves):
            row = RevocationRow(
                fingerprint(leaf.cert), leaf.cert.serial_number, ca_sha, f"c{i}", "portal",
                RevocationReason.KEY_COMPROMISE, NOW, "ana",
            )  # fmt: skip
            crls.append(registry.revoke(row, sign))
        assert [c.number for c in crls] == [1, 2]
        latest = x509.load_der_x509_crl(crls[-1].der)
        assert {r.serial_number for r in latest} == {leaf.cert.serial_number for leaf in leaves}
        assert latest.is_signature_valid(pki.issuing.key.public_key())  # type: ignore[arg-type]
        assert registry.latest_crl(ca_sha) == crls[-1]
        assert registry.get("c0").status is CredentialStatus.REVOKED
        assert registry.get("c0").revocation_reason is RevocationReason.KEY_COMPROMISE
        assert [c.id for c in registry.credentials(status=CredentialStatus.ACTIVE)] == []
        revoked = registry.revoked(fingerprint(leaves[0].cert))
        assert revoked is not None and revoked.serial == leaves[0].cert.serial_number


def test_a_lazy_registry_makes_its_file_when_first_used(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "registry.db"
    registry = CredentialRegistry(str(path), lazy=True)
    assert not path.exists()
    assert registry.credentials() == [] and path.is_file() and registry.version == 1
    registry.close()
    registry.close()  # twice is harmless

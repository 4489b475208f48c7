"""The passive certificate detector on CertificateSeen facts of a real city PKI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from alerts.model import Severity
from cityshield.clock import FixedClock
from detectors.certificates import CertificateConfig, CertificateDetector
from pki.fetch import FetchSettings, HttpFetcher
from pki.issuing import IssuingCa
from pki.model import fingerprint
from pki.registry import RegistryService
from pki.registry_model import CredentialCreate, RevocationReason
from pki.registry_store import CredentialRegistry
from pki.revocation import RevocationCache
from pki.service import build_service
from pki.settings import PkiSettings, RegistrySettings
from sensors.events import CertificateSeen, FlowRef
from tests.unit.pki.pkikit import NOW, CityPki, Credential, Responder, revocation_server

FLOW = FlowRef("f1", "1:abc", "tcp", "10.0.0.5", 50000, "192.0.2.10", 443, 0, 0, "t.pcap")


@pytest.fixture
def served() -> Iterator[tuple[CityPki, Responder]]:
    with revocation_server() as pair:
        yield pair


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def seen(
    chain: list[Credential], name: str | None, offset: timedelta = timedelta()
) -> list[CertificateSeen]:
    ts = int((NOW + offset).timestamp() * 1e9)
    return [
        CertificateSeen(
            FLOW, ts, c.cert.public_bytes(Encoding.DER), fingerprint(c.cert), i, len(chain), name
        )
        for i, c in enumerate(chain)
    ]


def detector(tmp_path: Path, pki: CityPki | None) -> CertificateDetector:
    paths = []
    if pki is not None:
        (tmp_path / "root.pem").write_bytes(pki.root.pem())
        paths = [tmp_path / "root.pem"]
    config = CertificateConfig(
        enabled=True, trust_paths=paths, government_suffixes=[".city.example"]
    )
    return CertificateDetector(config, observer="tap-1")


def test_good_chain_raises_nothing(tmp_path: Path) -> None:
    pki = CityPki()
    facts = seen([pki.leaf("portal.city.example"), pki.issuing], "portal.city.example")
    assert detector(tmp_path, pki).on_certificates_seen(facts) == []


def test_expired_and_mismatched_alert_once(tmp_path: Path) -> None:
    pki = CityPki()
    leaf = pki.leaf(
        "old.example", not_before=NOW - timedelta(days=90), not_after=NOW - timedelta(days=2)
    )
    det = detector(tmp_path, pki)
    alerts = det.on_certificates_seen(seen([leaf, pki.issuing], "portal.city.example"))
    assert {a.rule.id for a in alerts} == {"certificates.expired", "certificates.hostname_mismatch"}
    assert alerts[0].destination is not None and alerts[0].destination.ip == "192.0.2.10"
    assert det.on_certificates_seen(seen([leaf, pki.issuing], "portal.city.example")) == []


def test_untrusted_issuer_alerts_on_government_domains_only(tmp_path: Path) -> None:
    pki, foreign = CityPki(), CityPki()
    det = detector(tmp_path, pki)
    gov = det.on_certificates_seen(
        seen([foreign.leaf("tax.city.example"), foreign.issuing], "tax.city.example")
    )
    assert {a.rule.id for a in gov} & {
        "certificates.invalid_signature",
        "certificates.untrusted_issuer",
    }
    other = det.on_certificates_seen(
        seen([foreign.leaf("shop.example"), foreign.issuing], "shop.example")
    )
    assert other == []


def test_without_trust_store_only_policy_alerts(tmp_path: Path) -> None:
    pki = CityPki()
    det = detector(tmp_path, None)
    assert (
        det.on_certificates_seen(
            seen([pki.leaf("portal.city.example", self_signed=True)], "portal.city.example")
        )
        == []
    )


# ---------------------------------------------------------------- revocation and the registry


def attached(
    tmp_path: Path, pki: CityPki, clock: FixedClock, registry: RegistryService | None = None
) -> CertificateDetector:
    det = detector(tmp_path, pki)
    cache = RevocationCache(HttpFetcher(FetchSettings(timeout_seconds=5)), clock)
    det.attach(revocation=cache, registry=registry)
    return det


def test_revoked_by_ocsp_alerts_through_the_attached_cache(
    tmp_path: Path, served: tuple[CityPki, Responder], clock: FixedClock
) -> None:
    pki, responder = served
    good, revoked = pki.leaf("portal.city.example"), pki.leaf("tax.city.example")
    responder.revoked[revoked.cert.serial_number] = NOW - timedelta(days=1)
    det = attached(tmp_path, pki, clock)
    assert det.revocation_enabled
    assert det.on_certificates_seen(seen([good, pki.issuing], "portal.city.example")) == []
    alerts = det.on_certificates_seen(seen([revoked, pki.issuing], "tax.city.example"))
    assert [a.rule.id for a in alerts] == ["certificates.revoked"]
    assert responder.ocsp_requests >= 2 and det.stats()["revocation_checked"] == 2


def test_a_replayed_old_capture_is_judged_without_todays_revocation_answers(
    tmp_path: Path, served: tuple[CityPki, Responder], clock: FixedClock
) -> None:
    pki, responder = served
    revoked = pki.leaf("tax.city.example")
    responder.revoked[revoked.cert.serial_number] = NOW - timedelta(days=1)
    clock.advance(timedelta(days=30))  # the capture is a month old
    det = attached(tmp_path, pki, clock)
    assert det.on_certificates_seen(seen([revoked, pki.issuing], "tax.city.example")) == []
    assert responder.ocsp_requests == 0 and det.stats()["revocation_skipped_old"] == 1


def test_without_a_trust_store_revocation_stays_off(tmp_path: Path, clock: FixedClock) -> None:
    det = detector(tmp_path, None)
    det.attach(revocation=RevocationCache(HttpFetcher(), clock))
    assert not det.revocation_enabled


def test_a_chain_is_judged_again_after_the_recheck_interval(
    tmp_path: Path, served: tuple[CityPki, Responder], clock: FixedClock
) -> None:
    pki, responder = served
    leaf = pki.leaf("portal.city.example")
    det = attached(tmp_path, pki, clock)
    assert det.on_certificates_seen(seen([leaf, pki.issuing], "portal.city.example")) == []
    responder.revoked[leaf.cert.serial_number] = NOW
    assert det.on_certificates_seen(seen([leaf, pki.issuing], "portal.city.example")) == []
    later = seen([leaf, pki.issuing], "portal.city.example", offset=timedelta(hours=2))
    clock.advance(timedelta(hours=13))  # the cached OCSP answer (nextUpdate 12 h) has expired
    assert [a.rule.id for a in det.on_certificates_seen(later)] == ["certificates.revoked"]


def test_registered_names_report_changes_and_revoked_certificates_in_use(
    tmp_path: Path, clock: FixedClock
) -> None:
    pki = CityPki()
    registered, other = pki.leaf("portal.city.example"), pki.leaf("portal.city.example")
    settings = PkiSettings(registry=RegistrySettings(path=":memory:"))
    ca = IssuingCa(pki.issuing.cert, pki.issuing.key)  # type: ignore[arg-type]
    registry = RegistryService(
        CredentialRegistry(":memory:"), build_service(settings, clock), settings.registry, clock, ca
    )
    create = CredentialCreate(
        system="portal", owner="ana", host="portal.city.example", pem=registered.pem().decode()
    )
    credential = registry.add(create, by="ana")
    registry.revoke(credential.id, RevocationReason.KEY_COMPROMISE, by="responder")
    det = attached(tmp_path, pki, clock, registry)
    alerts = det.on_certificates_seen(seen([registered, pki.issuing], "portal.city.example"))
    assert [a.rule.id for a in alerts] == ["pki.revoked_in_use"]
    assert alerts[0].severity is Severity.CRITICAL and alerts[0].evidence.flow_ids == ["f1"]
    assert alerts[0].destination is not None and alerts[0].destination.ip == "192.0.2.10"
    changed = det.on_certificates_seen(seen([other, pki.issuing], "portal.city.example"))
    assert [a.rule.id for a in changed] == ["pki.fingerprint_changed"]
    assert changed[0].data["credential_id"] == credential.id
    assert changed[0].data["previous_sha256"] == fingerprint(registered.cert)

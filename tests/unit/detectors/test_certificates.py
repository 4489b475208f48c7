"""The passive certificate detector on CertificateSeen facts of a real city PKI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from detectors.certificates import CertificateConfig, CertificateDetector
from pki.model import fingerprint
from sensors.events import CertificateSeen, FlowRef
from tests.unit.pki.pkikit import NOW, CityPki, Credential

FLOW = FlowRef("f1", "1:abc", "tcp", "10.0.0.5", 50000, "192.0.2.10", 443, 0, 0, "t.pcap")


def seen(chain: list[Credential], name: str | None) -> list[CertificateSeen]:
    ts = int(NOW.timestamp() * 1e9)
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

"""Passive certificate checks: every chain the sensors saw in a TLS handshake goes through
``pki.ChainChecker``; expired, self-signed, weak, mismatched, revoked certificates, and untrusted
issuers on the city's government domains, become alerts.

No I/O here: trust stores come from their paths when the detector is built (pki reads them), and
revocation is only checked from what the checker is given (no fetching from a detector). With no
trust store configured, the checks that need one are skipped, never alerted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from pydantic import Field

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from detectors.base import Detector, DetectorConfig
from pki.checker import ChainChecker, CheckOptions
from pki.encoding import PARSE_ERRORS
from pki.model import Profile, Purpose, RevocationMode, Verdict
from pki.policy import PolicySettings
from pki.reasons import Reason
from pki.trust import TrustStore
from sensors.events import CertificateSeen

#: Reasons that alert, with the severity they alert at.
ALERTING: dict[Reason, Severity] = {
    Reason.REVOKED: Severity.HIGH,
    Reason.EXPIRED: Severity.MEDIUM,
    Reason.SELF_SIGNED: Severity.MEDIUM,
    Reason.UNTRUSTED_ISSUER: Severity.HIGH,
    Reason.INVALID_SIGNATURE: Severity.HIGH,
    Reason.HOSTNAME_MISMATCH: Severity.MEDIUM,
    Reason.WEAK_KEY: Severity.LOW,
    Reason.WEAK_SIGNATURE: Severity.LOW,
    Reason.MALFORMED: Severity.LOW,
}
#: Checked only on the city's own (government) domains: elsewhere, private CAs are normal.
GOVERNMENT_ONLY = frozenset({Reason.UNTRUSTED_ISSUER, Reason.SELF_SIGNED, Reason.INVALID_SIGNATURE})
MAX_REMEMBERED = 100_000  # chains already judged (by leaf fingerprint and name)


class CertificateConfig(DetectorConfig):
    #: Off until configured (``[certificates]`` in the rules folder): without trust paths it only
    #: judges policy, and which domains are the city's is the city's to say.
    enabled: bool = False
    trust_paths: list[Path] = Field(default_factory=list, description="TLS server trust bundles")
    government_suffixes: list[str] = Field(
        default_factory=list, description="e.g. .gov.example: untrusted issuers alert here"
    )
    expiry_warning_days: int = Field(30, ge=0)
    profile: Profile = Profile.WEBPKI


class CertificateDetector(Detector[CertificateConfig]):
    id = "certificates"
    version = "1"
    description = "Expired, self-signed, untrusted, weak, mismatched or revoked TLS certificates."
    config_model = CertificateConfig

    def __init__(self, config: CertificateConfig, *, observer: str) -> None:
        super().__init__(config, observer=observer)
        trust = (
            {Purpose.TLS_SERVER: TrustStore.from_paths(config.trust_paths)}
            if config.trust_paths
            else {}
        )
        policy = PolicySettings(
            expiry_warning_days=config.expiry_warning_days, max_leaf_validity_days=None
        )
        self.checker = ChainChecker(trust, policy={config.profile: policy})
        self._seen: OrderedDict[tuple[str, str | None], None] = OrderedDict()
        self._suffixes = tuple(s.lower().lstrip(".") for s in config.government_suffixes)

    def on_certificates_seen(self, certificates: Sequence[CertificateSeen]) -> list[Alert]:
        chains: dict[tuple[str, int], list[CertificateSeen]] = {}
        for cert in certificates:
            chains.setdefault((cert.flow.flow_id, cert.ts_ns), []).append(cert)
        alerts: list[Alert] = []
        for chain in chains.values():
            chain.sort(key=lambda c: c.position)
            if chain[0].position != 0:
                continue  # the leaf was not seen: nothing to judge
            key = (chain[0].sha256, chain[0].server_name)
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > MAX_REMEMBERED:
                self._seen.popitem(last=False)
            alerts += self._judge(chain)
        return alerts

    def _judge(self, chain: list[CertificateSeen]) -> list[Alert]:
        leaf = chain[0]
        at = datetime.fromtimestamp(leaf.ts_ns / 1e9, UTC)
        try:
            certs = [x509.load_der_x509_certificate(c.der) for c in chain]
        except PARSE_ERRORS:
            certs = []
        options = CheckOptions(
            purpose=Purpose.TLS_SERVER,
            profile=self.config.profile,
            host=leaf.server_name,
            at=at,
            revocation=RevocationMode.OFF,
            fetch=False,
        )
        verdict = self.checker.check(certs, options)
        government = self._government(leaf.server_name)
        return [
            self._alert(leaf, verdict, reason, at)
            for reason in verdict.reasons
            if reason in ALERTING and (government or reason not in GOVERNMENT_ONLY)
        ]

    def _government(self, name: str | None) -> bool:
        if not name:
            return False
        name = name.lower().rstrip(".")
        return any(name == s or name.endswith("." + s) for s in self._suffixes)

    def _alert(
        self, leaf: CertificateSeen, verdict: Verdict, reason: Reason, at: datetime
    ) -> Alert:
        finding = next(f for f in verdict.findings if f.code is reason)
        subject = verdict.presented[0].subject if verdict.presented else "unreadable certificate"
        flow = leaf.flow
        return Alert.raised(
            rule=RuleRef(
                id=f"certificates.{reason.value}",
                name=f"TLS certificate: {reason.value.replace('_', ' ')}",
                category="credential",
            ),
            severity=ALERTING[reason],
            message=f"{leaf.server_name or flow.resp_ip}: {finding.message}"[:500],
            observer=self.observer,
            first_seen=at,
            source=Endpoint(ip=flow.orig_ip, port=flow.orig_port),
            destination=Endpoint(ip=flow.resp_ip, port=flow.resp_port),
            transport=flow.transport,
            community_id=flow.community_id,
            aggregation_fields=("destination.ip", "cityshield.alert.data.sha256"),
            evidence=Evidence.bounded(
                flow_ids=[flow.flow_id],
                community_ids=[flow.community_id],
                capture_file=flow.capture,
            ),
            data={
                "sha256": leaf.sha256,
                "server_name": leaf.server_name,
                "subject": subject,
                "reason": reason.value,
                "reasons": [r.value for r in verdict.reasons],
            },
        )

"""Passive certificate checks: every chain the sensors saw in a TLS handshake goes through
``pki.ChainChecker``; expired, self-signed, weak, mismatched, revoked certificates, and untrusted
issuers on the city's government domains, become alerts.

No I/O here: trust stores come from their paths when the detector is built (pki reads them), and
the composition root attaches what reaches out (``attach``): a revocation cache (CRLs and OCSP
answers fetched and kept by ``pki.revocation``; soft-fail by default, off without a trust store)
and the credential registry, which compares a registered name's certificate with the one on
record (``pki.fingerprint_changed``, ``pki.revoked_in_use``, ... from ``detectors.credentials``).
With no trust store configured, the checks that need one are skipped, never alerted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from pydantic import Field

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from detectors.base import Detector, DetectorConfig
from detectors.credentials import registry_alert
from pki.checker import ChainChecker, CheckOptions
from pki.encoding import PARSE_ERRORS
from pki.model import Profile, Purpose, RevocationMode, Verdict
from pki.policy import PolicySettings
from pki.reasons import Reason
from pki.registry_model import RegistryEvent
from pki.revocation import RevocationCache
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


class RegistryWatch(Protocol):
    """What the detector asks the credential registry (``pki.registry.RegistryService``)."""

    def observe(
        self, name: str, leaf: x509.Certificate, *, at: datetime, ip: str | None, port: int | None
    ) -> list[RegistryEvent]: ...


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
    #: Revocation checks when a revocation cache is attached and there is a trust store.
    revocation: RevocationMode = RevocationMode.SOFT_FAIL
    #: A chain judged once is judged again after this long (network time): revocations and
    #: registry changes since are seen.
    recheck_seconds: float = Field(3600.0, gt=0)
    #: Revocation is checked with today's CRLs and OCSP answers only for handshakes this recent:
    #: a capture from last year is judged without them.
    revocation_max_lag_seconds: float = Field(86400.0, gt=0)


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
        self._trust = trust
        self._policy = {config.profile: policy}
        self.checker = ChainChecker(trust, policy=self._policy)
        self._cache: RevocationCache | None = None
        self._registry: RegistryWatch | None = None
        self._seen: OrderedDict[tuple[str, str | None], datetime] = OrderedDict()
        self._suffixes = tuple(s.lower().lstrip(".") for s in config.government_suffixes)
        self._counts = {"revocation_checked": 0, "revocation_skipped_old": 0, "registry_events": 0}

    def attach(
        self, *, revocation: RevocationCache | None = None, registry: RegistryWatch | None = None
    ) -> None:
        """What the composition root hands over: revocation (ignored without a trust store,
        where no path is built to check) and the credential registry."""
        if revocation is not None and self._trust:
            self._cache = revocation
            self.checker = ChainChecker(
                self._trust, policy=self._policy, cache=revocation, clock=revocation.clock
            )
        self._registry = registry

    @property
    def revocation_enabled(self) -> bool:
        return self._cache is not None and self.config.revocation is not RevocationMode.OFF

    def stats(self) -> dict[str, int]:
        return {**self._counts, "remembered": len(self._seen)}

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
            at = datetime.fromtimestamp(chain[0].ts_ns / 1e9, UTC)
            judged = self._seen.get(key)
            if judged is not None and at - judged < timedelta(seconds=self.config.recheck_seconds):
                continue
            self._seen[key] = at
            self._seen.move_to_end(key)
            if len(self._seen) > MAX_REMEMBERED:
                self._seen.popitem(last=False)
            alerts += self._judge(chain, at)
        return alerts

    def _judge(self, chain: list[CertificateSeen], at: datetime) -> list[Alert]:
        leaf = chain[0]
        server = leaf.role == "server"
        try:
            certs = [x509.load_der_x509_certificate(c.der) for c in chain]
        except PARSE_ERRORS:
            certs = []
        verdict = self.checker.check(certs, self._options(leaf, at, server=server))
        government = self._government(leaf.server_name) if server else False
        alerts = [
            self._alert(leaf, verdict, reason, at)
            for reason in verdict.reasons
            if reason in ALERTING and (government or reason not in GOVERNMENT_ONLY)
        ]
        if self._registry is not None and server and leaf.server_name and certs:
            flow = leaf.flow
            events = self._registry.observe(
                leaf.server_name, certs[0], at=at, ip=flow.resp_ip, port=flow.resp_port
            )
            self._counts["registry_events"] += len(events)
            evidence = Evidence.bounded(
                flow_ids=[flow.flow_id],
                community_ids=[flow.community_id],
                capture_file=flow.capture,
            )
            alerts += [registry_alert(e, observer=self.observer, evidence=evidence) for e in events]
        return alerts

    def _options(self, leaf: CertificateSeen, at: datetime, *, server: bool) -> CheckOptions:
        """Revocation with today's answers needs today's handshake: a recent one is judged at the
        checker's (the cache's) time; an old one at its own time, without revocation."""
        purpose = Purpose.TLS_SERVER if server else Purpose.TLS_CLIENT
        host = leaf.server_name if server else None
        if self._cache is not None and self.revocation_enabled:
            lag = abs((self._cache.clock.now() - at).total_seconds())
            if lag <= self.config.revocation_max_lag_seconds:
                self._counts["revocation_checked"] += 1
                return CheckOptions(
                    purpose=purpose,
                    profile=self.config.profile,
                    host=host,
                    revocation=self.config.revocation,
                )
            self._counts["revocation_skipped_old"] += 1
        return CheckOptions(
            purpose=purpose,
            profile=self.config.profile,
            host=host,
            at=at,
            revocation=RevocationMode.OFF,
            fetch=False,
        )

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

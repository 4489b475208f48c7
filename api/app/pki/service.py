"""``PkiApi``: what the PKI routes call, over the checks and the credential registry that the
composition root built from ``[pki]`` (``PkiComponents``), the alert store and the audit log.

An app built without components (a test of another part of the service) gets offline ones: chain
checks without trust stores, an in-memory registry, and no active checks (nothing the app was not
configured for reaches out to the network).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.model import Alert
from alerts.stores.base import AlertStore
from api.app.audit.log import AuditLog
from api.app.auth.principal import Principal
from api.app.errors import Conflict, InvalidRequest
from cityshield.clock import Clock
from cityshield.errors import DecodeError
from detectors.credentials import registry_alerts
from pki.encoding import load_certificates
from pki.fetch import FetchError, FetchRequest
from pki.model import Profile, Purpose, RevocationMode, Verdict
from pki.probe import Handshake, ProbeError
from pki.registry import RegistryService
from pki.registry_model import (
    CredentialCreate,
    CredentialStatus,
    RegisteredCredential,
    Revocation,
    RevokeRequest,
    ScanOutcome,
)
from pki.registry_store import CredentialRegistry
from pki.revoking import RevocationRefused
from pki.service import ChainCheckRequest, EndpointCheckRequest, PkiService, build_service
from pki.settings import PkiSettings

AlertFilter = Callable[[Sequence[Alert]], list[Alert]]


@dataclass(frozen=True)
class PkiComponents:
    checks: PkiService
    registry: RegistryService
    #: ``observer.name`` of the registry's alerts (the service's sensor name).
    observer: str

    def close(self) -> None:
        self.registry.store.close()


class ScanResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    outcomes: list[ScanOutcome]
    #: The alerts the scan raised (after suppressions), as stored.
    alerts: list[Alert]


class PkiApi:
    def __init__(
        self,
        components: PkiComponents,
        store: AlertStore,
        audit: AuditLog,
        alert_filter: AlertFilter | None = None,
    ) -> None:
        self.components = components
        self.store = store
        self.audit = audit
        self.alert_filter = alert_filter

    @property
    def registry(self) -> RegistryService:
        return self.components.registry

    def check_chain(self, request: ChainCheckRequest) -> Verdict:
        with _unprocessable():
            return self.components.checks.check_chain(request)

    def check_upload(
        self,
        data: bytes,
        *,
        purpose: Purpose,
        profile: Profile | None,
        revocation: RevocationMode | None,
        host: str | None,
        at: datetime | None,
    ) -> Verdict:
        checks = self.components.checks
        with _unprocessable():
            certs = load_certificates(data, where="body")
        options = checks.options(purpose, profile=profile, revocation=revocation, host=host, at=at)
        return checks.check_certificates(certs, options)

    def check_endpoint(self, request: EndpointCheckRequest) -> Verdict:
        with _unprocessable():
            return self.components.checks.check_endpoint(request)

    def credentials(
        self, system: str | None, status: CredentialStatus | None
    ) -> list[RegisteredCredential]:
        return self.registry.credentials(system=system, status=status)

    def add(self, principal: Principal, request: CredentialCreate) -> RegisteredCredential:
        with _unprocessable():
            credential = self.registry.add(request, by=principal.name)
        after = credential.model_dump(mode="json")
        self.audit.record(principal, "pki.credential.add", "credential", credential.id, None, after)
        return credential

    def remove(self, principal: Principal, credential_id: str) -> None:
        before = self.registry.remove(credential_id).model_dump(mode="json")
        self.audit.record(
            principal, "pki.credential.remove", "credential", credential_id, before, None
        )

    def revoke(
        self, principal: Principal, credential_id: str, request: RevokeRequest
    ) -> Revocation:
        try:
            done = self.registry.revoke(credential_id, request.reason, by=principal.name)
        except RevocationRefused as exc:
            raise Conflict(exc.message) from None
        if not done.already_revoked:
            after = done.model_dump(mode="json")
            self.audit.record(
                principal, "pki.credential.revoke", "credential", credential_id, None, after
            )
        return done

    def scan(self, principal: Principal) -> ScanResult:
        report = self.registry.scan()
        alerts = registry_alerts(report.events, observer=self.components.observer)
        if alerts and self.alert_filter is not None:
            alerts = self.alert_filter(alerts)
        if alerts:
            self.store.upsert_alerts(alerts)
        summary = {"endpoints": len(report.outcomes), "alerts": len(alerts)}
        self.audit.record(principal, "pki.registry.scan", "registry", "scan", None, summary)
        return ScanResult(at=report.at, outcomes=report.outcomes, alerts=alerts)


@contextmanager
def _unprocessable() -> Iterator[None]:
    """A certificate that cannot be read, or a server that cannot be reached, is a 422 naming
    where (the request is well-formed; what it names cannot be checked)."""
    try:
        yield
    except (DecodeError, ProbeError) as exc:
        raise InvalidRequest(exc.message, where=exc.where) from None


class _Offline:
    """Neither connects to endpoints nor fetches CRLs or OCSP answers."""

    message = "the service was built without [pki]: nothing is fetched or probed"

    def fetch(self, request: FetchRequest) -> bytes:
        raise FetchError(self.message, where=request.url[:200])

    def probe(self, host: str, port: int, **_: object) -> Handshake:
        raise ProbeError(self.message, where=f"{host}:{port}")


def offline_components(clock: Clock) -> PkiComponents:
    """Checks without trust stores, an in-memory registry, nothing that reaches out."""
    settings = PkiSettings()
    offline = _Offline()
    checks = build_service(settings, clock, fetcher=offline, probe=offline.probe)
    registry = RegistryService(CredentialRegistry(":memory:"), checks, settings.registry, clock)
    return PkiComponents(checks, registry, observer="cityshield")

"""``RegistryService``: the city's registered credentials and what is said about them.

* ``add``, ``get``, ``list``, ``remove``: the registry itself (a certificate given, or taken from
  the credential's endpoint).
* ``scan``: one pass over the registered endpoints (connect, check the chain, compare with the
  certificate on record) and the expiry thresholds of every credential.
* ``observe``: the same comparison for a certificate a sensor saw for a registered name.
* ``revoke``: ``pki.revoking.revoke_certificate`` with the registry's CA and settings.

Each condition is reported once (``notices``): an expiry threshold per certificate, a change per
new certificate, a revoked certificate in use per certificate, an endpoint failure until it
recovers. The events become alerts in ``detectors.credentials``.
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from cryptography import x509

from cityshield.clock import Clock
from cityshield.errors import ConfigError, DecodeError
from pki.encoding import load_certificates
from pki.issuing import IssuingCa
from pki.model import Purpose, fingerprint, safe_name
from pki.probe import ProbeError
from pki.reasons import Reason
from pki.registry_model import (
    CredentialCreate,
    CredentialStatus,
    EventKind,
    RegisteredCredential,
    RegistryEvent,
    Revocation,
    RevocationReason,
    ScanOutcome,
    ScanReport,
)
from pki.registry_store import CredentialRegistry, NewCredential, issuer_key_id
from pki.revoking import revoke_certificate
from pki.service import EndpointCheckRequest, PkiService
from pki.settings import PkiSettings, RegistrySettings


class RegistryService:
    def __init__(
        self,
        store: CredentialRegistry,
        checks: PkiService,
        settings: RegistrySettings,
        clock: Clock,
        ca: IssuingCa | None = None,
    ) -> None:
        self.store = store
        self.checks = checks
        self.settings = settings
        self.clock = clock
        self.ca = ca

    # ------------------------------------------------------------------ the registry

    def add(self, request: CredentialCreate, *, by: str) -> RegisteredCredential:
        if request.host is not None and request.purpose is not Purpose.TLS_SERVER:
            raise DecodeError("an endpoint serves a tls_server certificate", where="purpose")
        cert = self._certificate_for(request)
        new = NewCredential(
            id=secrets.token_hex(8),
            system=request.system,
            owner=request.owner,
            host=request.host,
            port=request.port if request.host is not None else None,
            server_name=request.server_name,
            starttls=request.starttls,
            purpose=request.purpose.value,
        )
        self.store.add(new, cert, at=self.clock.now(), by=by)
        return self.store.get(new.id)

    def get(self, credential_id: str) -> RegisteredCredential:
        return self.store.get(credential_id)

    def credentials(
        self, *, system: str | None = None, status: CredentialStatus | None = None
    ) -> list[RegisteredCredential]:
        return self.store.credentials(system=system, status=status)

    def remove(self, credential_id: str) -> RegisteredCredential:
        return self.store.remove(credential_id)

    def revoke(self, credential_id: str, reason: RevocationReason, *, by: str) -> Revocation:
        return revoke_certificate(
            self.store,
            self.ca,
            credential_id=credential_id,
            reason=reason,
            by=by,
            at=self.clock.now().replace(microsecond=0),  # CRL times are whole seconds
            crl_path=self.settings.crl_path,
            crl_validity=timedelta(days=self.settings.crl_validity_days),
        )

    def _certificate_for(self, request: CredentialCreate) -> x509.Certificate:
        if request.pem:
            return load_certificates(request.pem.encode(), where="pem")[0]
        if request.der_base64:
            try:
                data = base64.b64decode(request.der_base64, validate=True)
            except (binascii.Error, ValueError):
                raise DecodeError("not base64", where="der_base64") from None
            return load_certificates(data, where="der_base64")[0]
        if request.host is None:
            raise DecodeError(
                "give the certificate (pem or der_base64) or the endpoint (host) to take it from",
                where="request",
            )
        handshake = self.checks.probe(
            request.host,
            request.port,
            server_name=request.server_name,
            starttls=request.starttls,
            timeout=self.checks.settings.probe_timeout_seconds,
        )
        if not handshake.chain:
            raise DecodeError("the server sent no certificate", where=f"{request.host}")
        return handshake.chain[0]

    # ------------------------------------------------------------------ checks

    def scan(self, ids: Sequence[str] | None = None) -> ScanReport:
        """Check every registered endpoint (or those of ``ids``), then every expiry threshold."""
        now = self.clock.now()
        credentials = [self.store.get(i) for i in ids] if ids else self.store.credentials()
        with ThreadPoolExecutor(max_workers=self.settings.scan_workers) as pool:
            results = list(pool.map(lambda c: self._scan_one(c, now), credentials))
        events = [e for _, found in results for e in found]
        events += self.expiry(now)
        return ScanReport(at=now, outcomes=[o for o, _ in results], events=events)

    def expiry(self, now: datetime | None = None) -> list[RegistryEvent]:
        """Credentials past an expiry threshold (each threshold once per certificate)."""
        now = now or self.clock.now()
        events: list[RegistryEvent] = []
        for credential in self.store.credentials(status=CredentialStatus.ACTIVE):
            cert = credential.certificate
            days = (cert.not_after - now).total_seconds() / 86400
            if days <= 0:
                if self.store.notice(credential.id, "expiry", f"{cert.sha256}:expired", at=now):
                    message = f"the certificate expired on {cert.not_after:%Y-%m-%d %H:%M} UTC"
                    events.append(_event(EventKind.EXPIRED, credential, now, message, "schedule"))
                continue
            crossed = [t for t in self.settings.expiry_days if days <= t]
            if not crossed:
                continue
            threshold = min(crossed)
            if self.store.notice(credential.id, "expiry", f"{cert.sha256}:{threshold}", at=now):
                left = math.floor(days)
                message = f"the certificate expires in {left} days ({cert.not_after:%Y-%m-%d})"
                details = {"threshold_days": threshold, "days_left": left}
                events.append(
                    _event(EventKind.EXPIRING, credential, now, message, "schedule", details)
                )
        return events

    def observe(
        self, name: str, leaf: x509.Certificate, *, at: datetime, ip: str | None, port: int | None
    ) -> list[RegistryEvent]:
        """A certificate a sensor saw for ``name`` (SNI) on ``port``: changes and revocations."""
        events: list[RegistryEvent] = []
        for credential in self.store.by_name(name, port):
            events += self._compare(credential, leaf, at=at, source="passive", ip=ip)
        return events

    def _scan_one(
        self, credential: RegisteredCredential, now: datetime
    ) -> tuple[ScanOutcome, list[RegistryEvent]]:
        base = {
            "credential_id": credential.id,
            "system": credential.system,
            "endpoint": credential.endpoint,
        }
        if credential.host is None or credential.port is None:
            return ScanOutcome(**base, status="not_scanned"), []
        request = EndpointCheckRequest(
            host=credential.host,
            port=credential.port,
            server_name=credential.server_name,
            starttls=credential.starttls,
        )
        try:
            handshake, verdict = self.checks.probe_endpoint(request)
        except (ProbeError, DecodeError) as exc:
            error = str(exc)[:500]
            self.store.record_scan(
                credential.id, at=now, status="unreachable", reasons=[], error=error
            )
            events = []
            if self.store.notice(credential.id, "unreachable", "", at=now):
                message = f"{credential.endpoint} could not be checked: {exc.message}"[:500]
                events.append(
                    _event(EventKind.ENDPOINT_UNREACHABLE, credential, now, message, "scan",
                           {"error": error})
                )  # fmt: skip
            return ScanOutcome(**base, status="unreachable", error=error), events
        self.store.clear_notices(credential.id, "unreachable")
        leaf = handshake.chain[0]
        sha = fingerprint(leaf)
        events = self._compare(
            credential, leaf, at=now, source="scan", ip=handshake.peer, revoked=verdict.reasons
        )
        reasons = [r.value for r in verdict.reasons]
        status = "valid" if verdict.valid else "invalid"
        self.store.record_scan(credential.id, at=now, status=status, reasons=reasons, error=None)
        others = [r for r in reasons if r != Reason.REVOKED.value]  # said by revoked_in_use
        if not others:
            self.store.clear_notices(credential.id, "invalid")
        elif self.store.notice(credential.id, "invalid", f"{sha}:{','.join(others)}", at=now):
            found = "; ".join(f.message for f in verdict.findings if f.code.value in others)
            message = f"{credential.endpoint} fails its check ({', '.join(others)}): {found}"
            events.append(
                _event(EventKind.ENDPOINT_INVALID, self.store.get(credential.id), now,
                       message[:500], "scan", {"reasons": list(others)}, ip=handshake.peer)
            )  # fmt: skip
        return ScanOutcome(**base, status=status, reasons=reasons, sha256=sha), events

    def _compare(
        self,
        credential: RegisteredCredential,
        leaf: x509.Certificate,
        *,
        at: datetime,
        source: str,
        ip: str | None,
        revoked: Sequence[Reason] = (),
    ) -> list[RegistryEvent]:
        """Events for ``leaf`` seen in use by ``credential``; a new certificate is recorded."""
        events: list[RegistryEvent] = []
        sha = fingerprint(leaf)
        before = credential.certificate
        if sha != before.sha256:
            issuer = safe_name(leaf, "issuer")
            new_issuer = issuer != before.issuer or issuer_key_id(leaf) != self.store.issuer_key(
                credential.id
            )
            if self.store.replace_certificate(
                credential.id, leaf, expected=before.sha256, at=at, source=source
            ):
                credential = self.store.get(credential.id)
                kind = EventKind.ISSUER_CHANGED if new_issuer else EventKind.FINGERPRINT_CHANGED
                what = f"another issuer ({issuer})" if new_issuer else "the same issuer"
                message = (
                    f"{credential.name} presents another certificate, from {what}: "
                    f"sha256 {sha[:16]}..., was {before.sha256[:16]}..."
                )
                details = {
                    "previous_sha256": before.sha256,
                    "previous_issuer": before.issuer,
                    "previous_not_after": before.not_after.isoformat(),
                }
                events.append(_event(kind, credential, at, message, source, details, ip=ip))
        recorded = self.store.revoked(sha)
        if (recorded is not None or Reason.REVOKED in revoked) and self.store.notice(
            credential.id, "revoked_in_use", sha, at=at
        ):
            how = (
                f"revoked on {recorded.revoked_at:%Y-%m-%d} ({recorded.reason.value})"
                if recorded is not None
                else "revoked by its CA (CRL or OCSP)"
            )
            message = f"{credential.name} still presents a certificate that was {how}"
            events.append(
                _event(EventKind.REVOKED_IN_USE, self.store.get(credential.id), at, message,
                       source, {"revoked_by_registry": recorded is not None}, ip=ip)
            )  # fmt: skip
        return events


def _event(
    kind: EventKind,
    credential: RegisteredCredential,
    at: datetime,
    message: str,
    source: str,
    details: Mapping[str, object] | None = None,
    *,
    ip: str | None = None,
) -> RegistryEvent:
    return RegistryEvent.model_validate(
        {
            "kind": kind,
            "at": at,
            "credential": credential,
            "message": message,
            "source": source,
            "ip": ip,
            "port": credential.port,
            "details": details or {},
        }
    )


def open_registry(
    settings: PkiSettings,
    checks: PkiService,
    clock: Clock,
    *,
    with_ca: bool = True,
    lazy: bool = False,
) -> RegistryService:
    """The registry at ``pki.registry.path`` with the city CA (``ConfigError`` names a bad file);
    ``with_ca=False`` for those that only read and compare (a sensor's detector); ``lazy``: the
    file is opened at first use (a server that never uses it makes none)."""
    s = settings.registry
    ca = None
    if with_ca and s.ca_certificate is not None and s.ca_key is not None:
        password = s.ca_key_password.get_secret_value().encode() if s.ca_key_password else None
        try:
            ca = IssuingCa.from_files(s.ca_certificate, s.ca_key, password)
        except DecodeError as exc:
            raise ConfigError(exc.message, where=exc.where) from None
    return RegistryService(CredentialRegistry(s.path, lazy=lazy), checks, s, clock, ca)

"""What the credential registry holds and says: registered credentials, the events that become
alerts (expiry, changed fingerprint or issuer, a revoked certificate in use, an endpoint that
fails its check or cannot be reached), scan reports and revocations.

These are pki's own facts; ``detectors.credentials`` turns events into alerts (pki does not
import the alert model).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from cryptography import x509
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    computed_field,
)

from pki.encoding import MAX_INPUT_BYTES
from pki.hostname import HostName
from pki.model import CertificateSummary, Purpose
from pki.probe import StartTls

#: Free text a person types (system, owner): bounded, printable on one line.
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    #: The certificate in use was revoked (through the registry or found on a CRL it keeps).
    REVOKED = "revoked"


class RevocationReason(StrEnum):
    """RFC 5280 section 5.3.1 reason codes that a city revokes for (``x509.ReasonFlags`` names)."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"

    @property
    def flag(self) -> x509.ReasonFlags:
        return x509.ReasonFlags[self.value]


class CredentialCreate(_Frozen):
    """A credential to register: its certificate (PEM, or DER in base64; the first certificate is
    the one registered), or an endpoint to take it from."""

    system: Text
    owner: Text
    host: HostName | None = Field(default=None, max_length=253)
    port: int = Field(default=443, ge=1, le=65535)
    #: The name clients ask for (SNI) when it is not ``host``.
    server_name: HostName | None = Field(default=None, max_length=253)
    starttls: StartTls | None = None
    purpose: Purpose = Purpose.TLS_SERVER
    pem: str | None = Field(default=None, max_length=MAX_INPUT_BYTES)
    der_base64: str | None = Field(default=None, max_length=MAX_INPUT_BYTES)


class RegisteredCredential(_Frozen):
    id: str
    system: str
    owner: str
    host: str | None = None
    port: int | None = None
    server_name: str | None = None
    starttls: StartTls | None = None
    purpose: Purpose
    #: The certificate in use: the registered one, or the last one a scan or a sensor saw.
    certificate: CertificateSummary
    status: CredentialStatus = CredentialStatus.ACTIVE
    added_at: AwareDatetime
    added_by: str
    revoked_at: AwareDatetime | None = None
    revocation_reason: RevocationReason | None = None
    last_scan_at: AwareDatetime | None = None
    #: ``valid``, ``invalid`` or ``unreachable``; None before the first scan.
    last_scan: Literal["valid", "invalid", "unreachable"] | None = None
    last_reasons: list[str] = Field(default_factory=list)
    last_error: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def endpoint(self) -> str | None:
        """``host:port`` (``[v6]:port``), when the credential is served somewhere."""
        if self.host is None:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def name(self) -> str | None:
        """The name a client asks the endpoint for."""
        return self.server_name or self.host


class EventKind(StrEnum):
    EXPIRING = "expiring"  # a threshold of ``pki.registry.expiry_days`` was crossed
    EXPIRED = "expired"
    FINGERPRINT_CHANGED = "fingerprint_changed"  # another certificate, same issuer
    ISSUER_CHANGED = "issuer_changed"  # another certificate from another issuer
    REVOKED_IN_USE = "revoked_in_use"
    ENDPOINT_INVALID = "endpoint_invalid"
    ENDPOINT_UNREACHABLE = "endpoint_unreachable"


class RegistryEvent(_Frozen):
    kind: EventKind
    at: AwareDatetime
    credential: RegisteredCredential
    message: str
    #: ``scan`` (an active check), ``passive`` (a sensor saw it) or ``schedule`` (expiry).
    source: Literal["scan", "passive", "schedule"]
    #: The address the certificate was seen at, when it was seen on the network.
    ip: str | None = None
    port: int | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)


class ScanOutcome(_Frozen):
    credential_id: str
    system: str
    endpoint: str | None
    status: Literal["valid", "invalid", "unreachable", "not_scanned"]
    reasons: list[str] = Field(default_factory=list)
    error: str | None = None
    sha256: str | None = None


class ScanReport(_Frozen):
    at: AwareDatetime
    outcomes: list[ScanOutcome] = Field(default_factory=list)
    events: list[RegistryEvent] = Field(default_factory=list)


class RevokeRequest(_Frozen):
    reason: RevocationReason = RevocationReason.UNSPECIFIED


class Revocation(_Frozen):
    """A revoked credential and the CRL that says so."""

    credential_id: str
    system: str
    serial: str  # hexadecimal
    sha256: str
    reason: RevocationReason
    revoked_at: AwareDatetime
    revoked_by: str
    issuer: str
    crl_number: int
    crl_next_update: AwareDatetime
    #: Where the CRL was written (``pki.registry.crl_path``), if anywhere.
    crl_path: str | None = None
    #: True when it had been revoked already: nothing new was recorded (the CRL was re-written).
    already_revoked: bool = False

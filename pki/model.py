"""What a check is asked and what it answers: purposes, profiles, revocation modes, verdicts."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, computed_field

from pki.encoding import LOOKUP_ERRORS
from pki.reasons import DESCRIPTIONS, Reason


class Purpose(StrEnum):
    """What a credential is for; each purpose has its own trust store."""

    TLS_SERVER = "tls_server"
    TLS_CLIENT = "tls_client"
    DOCUMENT_SIGNING = "document_signing"


class Profile(StrEnum):
    #: CA/Browser Forum rules as ``cryptography.x509.verification`` enforces them (public TLS).
    WEBPKI = "webpki"
    #: RFC 5280 path validation with policies, policy mapping and name constraints
    #: (pyhanko-certvalidator): government PKIs.
    RFC5280 = "rfc5280"


class RevocationMode(StrEnum):
    OFF = "off"
    #: Check what can be fetched or was given; failing to fetch is a warning.
    SOFT_FAIL = "soft-fail"
    #: A certificate that names a CRL or OCSP responder must be checked through it.
    HARD_FAIL = "hard-fail"
    #: Every certificate of the path must have revocation information.
    REQUIRE = "require"


class Severity(StrEnum):
    ERROR = "error"  # makes the verdict invalid
    WARNING = "warning"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Finding(_Frozen):
    """One problem found, with the certificate it concerns (0: the leaf; None: the chain)."""

    code: Reason
    severity: Severity = Severity.ERROR
    message: str
    position: int | None = None

    @classmethod
    def error(cls, code: Reason, message: str = "", position: int | None = None) -> Finding:
        return cls(code=code, message=message or DESCRIPTIONS[code], position=position)

    @classmethod
    def warning(cls, code: Reason, message: str = "", position: int | None = None) -> Finding:
        return cls(
            code=code,
            severity=Severity.WARNING,
            message=message or DESCRIPTIONS[code],
            position=position,
        )


class CertificateSummary(_Frozen):
    """What an analyst needs to recognise a certificate."""

    subject: str
    issuer: str
    serial: str  # hexadecimal
    not_before: AwareDatetime
    not_after: AwareDatetime
    sha256: str  # of the DER encoding, hexadecimal
    dns_names: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateSummary:
        return cls(
            subject=safe_name(cert, "subject"),
            issuer=safe_name(cert, "issuer"),
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=fingerprint(cert),
            dns_names=dns_names(cert)[:50],
        )


class Verdict(_Frozen):
    """The answer to one check: ``valid`` is False when any finding is an error."""

    valid: bool
    profile: Profile
    purpose: Purpose
    host: str | None = None
    at: AwareDatetime
    revocation: RevocationMode
    #: The certificates as presented (leaf first), and the validated path when there is one.
    presented: list[CertificateSummary] = Field(default_factory=list)
    path: list[CertificateSummary] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasons(self) -> list[Reason]:
        """The codes of the errors, in order, without repeats."""
        return list(dict.fromkeys(f.code for f in self.findings if f.severity is Severity.ERROR))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> list[Reason]:
        codes = (f.code for f in self.findings if f.severity is Severity.WARNING)
        return list(dict.fromkeys(codes))


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def safe_name(cert: x509.Certificate, which: str) -> str:
    """The RFC 4514 form of a name; hostile names that do not render are shown as such."""
    try:
        name: x509.Name = getattr(cert, which)
        return name.rfc4514_string()[:1000]
    except ValueError:
        return "<unreadable name>"


def dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except LOOKUP_ERRORS:
        return []
    return san.get_values_for_type(x509.DNSName)


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a validation time needs a time zone")
    return moment.astimezone(UTC)

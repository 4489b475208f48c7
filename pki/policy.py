"""Policy checks beyond path validation, each with its reason code: key type and size, signature
hash, validity length, key usage and extended key usage for the purpose, host name, required
extensions, expiry. They run on the certificates as presented, so an untrusted or broken chain
still gets told precisely what else is wrong with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pydantic import Field, field_validator

from cityshield.settings import Section
from pki.encoding import PARSE_ERRORS
from pki.hostname import matches_host
from pki.model import Finding, Purpose
from pki.reasons import Reason

#: Extended key usages that allow document signing (RFC 9336 id-kp-documentSigning, S/MIME, Adobe's
#: PDF signing OID, and anyExtendedKeyUsage).
DOCUMENT_SIGNING_EKUS = frozenset(
    {
        "1.3.6.1.5.5.7.3.36",
        ExtendedKeyUsageOID.EMAIL_PROTECTION.dotted_string,
        "1.2.840.113583.1.1.5",
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE.dotted_string,
    }
)
_PURPOSE_EKU = {
    Purpose.TLS_SERVER: frozenset({ExtendedKeyUsageOID.SERVER_AUTH.dotted_string}),
    Purpose.TLS_CLIENT: frozenset({ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string}),
    Purpose.DOCUMENT_SIGNING: DOCUMENT_SIGNING_EKUS,
}
_KEY_ERRORS: tuple[type[Exception], ...] = (TypeError, *PARSE_ERRORS)
_EXTENSION_NAMES = {
    "subject_alt_name": ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
    "key_usage": ExtensionOID.KEY_USAGE,
    "extended_key_usage": ExtensionOID.EXTENDED_KEY_USAGE,
    "certificate_policies": ExtensionOID.CERTIFICATE_POLICIES,
    "crl_distribution_points": ExtensionOID.CRL_DISTRIBUTION_POINTS,
    "authority_information_access": ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
    "authority_key_identifier": ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    "subject_key_identifier": ExtensionOID.SUBJECT_KEY_IDENTIFIER,
}


class PolicySettings(Section):
    min_rsa_bits: int = Field(default=2048, ge=1024)
    #: Named curves allowed (cryptography's names): NIST P-256/384/521 and the Brainpool curves
    #: that BSI TR-03116 and many national PKIs use.
    approved_curves: list[str] = Field(
        default_factory=lambda: [
            "secp256r1",
            "secp384r1",
            "secp521r1",
            "brainpoolP256r1",
            "brainpoolP384r1",
            "brainpoolP512r1",
        ]
    )
    allow_eddsa: bool = True
    forbidden_hashes: list[str] = Field(default_factory=lambda: ["md2", "md4", "md5", "sha1"])
    #: Longest leaf validity; CA/B Forum Baseline Requirements 6.3.2 allow 398 days for TLS.
    max_leaf_validity_days: int | None = Field(default=398, ge=1)
    #: Warn when the leaf expires within this many days.
    expiry_warning_days: int = Field(default=30, ge=0)
    #: Extensions the leaf must carry (names as in ``_EXTENSION_NAMES``).
    required_extensions: list[str] = Field(default_factory=list)

    @field_validator("required_extensions")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in _EXTENSION_NAMES:
                known = ", ".join(_EXTENSION_NAMES)
                raise ValueError(f"unknown extension {name!r}; use one of {known}")
        return names


def check_policy(
    certs: Sequence[x509.Certificate],
    *,
    purpose: Purpose,
    host: str | None,
    at: datetime,
    settings: PolicySettings,
    anchored: bool = False,
) -> list[Finding]:
    """Every policy finding for ``certs`` (leaf first): a validated path when ``anchored`` (its
    last certificate is the trust anchor, whose validity and own signature RFC 5280 section 6.1
    leaves alone), else the certificates as presented."""
    findings: list[Finding] = []
    last = len(certs) - 1
    for position, cert in enumerate(certs):
        findings += _check_key(cert, position, settings)
        if anchored and position == last and position > 0:
            continue
        findings += _check_time(cert, position, at, settings)
        findings += _check_signature(cert, position, settings)
    leaf = certs[0]
    findings += _check_validity_length(leaf, settings)
    try:
        findings += _check_usage(leaf, purpose)
        findings += _check_required(leaf, purpose, settings)
        if host and purpose is Purpose.TLS_SERVER and not matches_host(leaf, host):
            message = f"not valid for {host[:253]}"
            findings.append(Finding.error(Reason.HOSTNAME_MISMATCH, message, position=0))
    except PARSE_ERRORS as exc:
        # cryptography parses extensions when first asked: duplicates and bad DER show here
        findings.append(Finding.error(Reason.EXTENSION_INVALID, f"{exc}"[:300], position=0))
    return findings


def _check_time(
    cert: x509.Certificate, position: int, at: datetime, settings: PolicySettings
) -> list[Finding]:
    not_after, not_before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if not_after < at:
        return [Finding.error(Reason.EXPIRED, f"expired {not_after:%Y-%m-%d %H:%M} UTC", position)]
    if not_before > at:
        message = f"not valid before {not_before:%Y-%m-%d %H:%M} UTC"
        return [Finding.error(Reason.NOT_YET_VALID, message, position)]
    if position == 0 and not_after - at <= timedelta(days=settings.expiry_warning_days):
        days = (not_after - at).days
        return [Finding.warning(Reason.EXPIRING_SOON, f"expires in {days} days", position)]
    return []


def _check_key(cert: x509.Certificate, position: int, settings: PolicySettings) -> list[Finding]:
    try:
        key = cert.public_key()
    except _KEY_ERRORS as exc:  # an unsupported algorithm or a malformed key
        return [Finding.error(Reason.WEAK_KEY, f"unusable public key: {exc}"[:300], position)]
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < settings.min_rsa_bits:
            message = f"RSA key of {key.key_size} bits (at least {settings.min_rsa_bits})"
            return [Finding.error(Reason.WEAK_KEY, message, position)]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in settings.approved_curves:
            return [
                Finding.error(Reason.WEAK_KEY, f"curve {key.curve.name} is not approved", position)
            ]
    elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        if not settings.allow_eddsa:
            return [Finding.error(Reason.WEAK_KEY, "EdDSA keys are not allowed", position)]
    elif isinstance(key, dsa.DSAPublicKey):
        return [Finding.error(Reason.WEAK_KEY, "DSA keys are not approved", position)]
    else:
        return [
            Finding.error(Reason.WEAK_KEY, f"{type(key).__name__} keys are not approved", position)
        ]
    return []


def _check_signature(
    cert: x509.Certificate, position: int, settings: PolicySettings
) -> list[Finding]:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        oid = cert.signature_algorithm_oid.dotted_string
        return [
            Finding.error(Reason.WEAK_SIGNATURE, f"unknown signature algorithm {oid}", position)
        ]
    if algorithm is not None and algorithm.name in settings.forbidden_hashes:
        return [
            Finding.error(Reason.WEAK_SIGNATURE, f"signed with {algorithm.name.upper()}", position)
        ]
    return []


def _check_validity_length(leaf: x509.Certificate, settings: PolicySettings) -> list[Finding]:
    limit = settings.max_leaf_validity_days
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    if limit is not None and days > limit:
        return [Finding.error(Reason.VALIDITY_TOO_LONG, f"valid {days} days (at most {limit})", 0)]
    return []


def _check_usage(leaf: x509.Certificate, purpose: Purpose) -> list[Finding]:
    findings: list[Finding] = []
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None:
        allowed = (
            ku.digital_signature or ku.content_commitment
            if purpose is Purpose.DOCUMENT_SIGNING
            else ku.digital_signature or ku.key_encipherment or ku.key_agreement
        )
        if not allowed:
            findings.append(
                Finding.error(Reason.KEY_USAGE, f"keyUsage does not allow {purpose}", 0)
            )
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None:
        present = {oid.dotted_string for oid in eku}
        if not present & _PURPOSE_EKU[purpose]:
            findings.append(
                Finding.error(
                    Reason.EXTENDED_KEY_USAGE, f"extendedKeyUsage does not allow {purpose}", 0
                )
            )
    return findings


def _check_required(
    leaf: x509.Certificate, purpose: Purpose, settings: PolicySettings
) -> list[Finding]:
    required = list(settings.required_extensions)
    if purpose is Purpose.TLS_SERVER:
        required.append("subject_alt_name")  # RFC 9525 section 6.4.4: no CN fallback
    present = {ext.oid for ext in leaf.extensions}
    return [
        Finding.error(Reason.MISSING_EXTENSION, f"no {name} extension", 0)
        for name in dict.fromkeys(required)
        if _EXTENSION_NAMES[name] not in present
    ]

"""Issuing CRLs with the city CA's key: what revoking a registered credential publishes.

RFC 5280 section 5: a CRL names its issuer, carries a monotonically increasing cRLNumber and the
authority key identifier, and says when the next one comes (nextUpdate), so that relying parties
know when theirs is stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from cityshield.errors import ConfigError
from pki.encoding import load_certificates, read_bytes

SigningKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


@dataclass(frozen=True, slots=True)
class IssuingCa:
    certificate: x509.Certificate
    key: SigningKey

    @classmethod
    def from_files(cls, certificate: Path, key: Path, password: bytes | None = None) -> IssuingCa:
        cert = load_certificates(read_bytes(certificate), where=str(certificate), max_certs=1)[0]
        try:
            loaded = serialization.load_pem_private_key(read_bytes(key), password=password)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"not a usable private key: {exc}", where=str(key)) from None
        if not isinstance(loaded, SigningKey):
            raise ConfigError(f"{type(loaded).__name__} keys cannot sign CRLs", where=str(key))
        if loaded.public_key() != cert.public_key():
            raise ConfigError("the key does not belong to the CA certificate", where=str(key))
        return cls(cert, loaded)


def issue_crl(
    ca: IssuingCa,
    revoked: Iterable[RevokedEntry],
    *,
    number: int,
    this_update: datetime,
    validity: timedelta = timedelta(days=7),
) -> bytes:
    """A DER CRL signed by ``ca`` listing ``revoked``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update)
        .next_update(this_update + validity)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .add_extension(x509.CRLReason(entry.reason), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(item)
    algorithm = (
        None
        if isinstance(ca.key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else hashes.SHA256()
    )
    return builder.sign(ca.key, algorithm).public_bytes(Encoding.DER)

"""The demo's X.509 certificates, identical on every run.

Keys come from fixed labels through SHA-256 (``ec.derive_private_key``) and signatures use
deterministic ECDSA (RFC 6979), so the DER of every certificate is the same everywhere. These keys
are public by construction: they exist only to make the capture look and verify like the real thing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PORTAL_NAME = "portal.city.example"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class DemoCredential:
    """A private key and the chain the server sends, leaf first (RFC 5246 7.4.2)."""

    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]

    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))


def _key(label: str) -> ec.EllipticCurvePrivateKey:
    digest = hashlib.sha256(b"cityshield demo key: " + label.encode()).digest()
    return ec.derive_private_key(int.from_bytes(digest) % (_P256_ORDER - 1) + 1, ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City of Example"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, serial: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _sign(builder: x509.CertificateBuilder, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256(), ecdsa_deterministic=True)


@cache
def portal_credential() -> DemoCredential:
    """city-root-CA -> portal.city.example, valid at capture time (March 2026)."""
    root_key, leaf_key = _key("city-root-CA"), _key(PORTAL_NAME)
    root_name = _name("City of Example Root CA")
    root = _sign(
        _builder(root_name, root_name, root_key, 0x1C17_0001)
        .not_valid_before(datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2035, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True),
        root_key,
    )
    leaf = _sign(
        _builder(_name(PORTAL_NAME), root_name, leaf_key, 0x1C17_2026_0115)
        .not_valid_before(datetime(2026, 1, 15, tzinfo=UTC))
        .not_valid_after(datetime(2026, 7, 15, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(PORTAL_NAME), x509.DNSName("www.city.example")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://pki.city.example/root.crl")],
                        None,
                        None,
                        None,
                    )
                ]
            ),
            critical=False,
        ),
        root_key,
    )
    return DemoCredential(leaf_key, (leaf, root))


@cache
def rdp_credential() -> DemoCredential:
    """The self-signed certificate a Windows RDP listener makes for itself (CN = host name)."""
    key = _key("rds01")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RDS01.city.example")])
    cert = _sign(
        _builder(name, name, key, 0x2A6F_11C0_9D35_5E21)
        .not_valid_before(datetime(2026, 1, 20, 6, 12, 40, tzinfo=UTC))
        .not_valid_after(datetime(2026, 7, 22, 6, 12, 40, tzinfo=UTC))
        .add_extension(_key_usage(cert_sign=False), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False),
        key,
    )
    return DemoCredential(key, (cert,))

"""Reading certificates, CRLs and OCSP responses from PEM, DER or PKCS#7 bytes, within budgets.

Everything read here may be hostile (an upload, a file from a ticket, a server's answer): inputs
have a size budget, a bundle has a count budget, and an unreadable object is a ``DecodeError``
that names where it came from and which object (with its line for PEM).
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import pkcs7

from cityshield.errors import DecodeError

#: One chain or CRL as a user or a server hands it over.
MAX_INPUT_BYTES = 4 * 1024 * 1024
#: Certificates in one presented chain: real chains have 2 to 5, BetterTLS's path-building cases
#: send 36; path building itself is bounded by the verifier's signature-check budget.
MAX_CHAIN_CERTS = 64
#: A trust bundle (a national bundle has a few hundred roots).
MAX_BUNDLE_BYTES = 32 * 1024 * 1024
MAX_BUNDLE_CERTS = 5000

#: What ``cryptography`` raises on malformed certificates, some only when a part is first read
#: (extensions are parsed lazily): not all of them are ``ValueError``.
PARSE_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
    x509.InvalidVersion,
    UnsupportedAlgorithm,
)
#: The same, and a missing extension: what looking an extension up can raise.
LOOKUP_ERRORS: tuple[type[Exception], ...] = (x509.ExtensionNotFound, *PARSE_ERRORS)

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CRL_LABELS = {b"X509 CRL"}


def read_bytes(path: Path, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """A file's bytes; a ``DecodeError`` naming it when missing, unreadable or too large."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror or exc}", where=str(path)) from None
    if len(data) > limit:
        raise DecodeError(f"larger than {limit} bytes", where=str(path))
    return data


def is_pem(data: bytes) -> bool:
    return b"-----BEGIN " in data[:65536] or data.lstrip()[:11] == b"-----BEGIN "


def load_certificates(
    data: bytes, *, where: str, max_certs: int = MAX_CHAIN_CERTS
) -> list[x509.Certificate]:
    """Every certificate in ``data`` (PEM blocks, one DER certificate, or a PKCS#7 bundle)."""
    if not data.strip():
        raise DecodeError("empty: no certificate", where=where)
    if is_pem(data):
        return _pem_certificates(data, where=where, max_certs=max_certs)
    try:
        return [x509.load_der_x509_certificate(data)]
    except (ValueError, x509.InvalidVersion) as der_error:
        try:
            certs = pkcs7.load_der_pkcs7_certificates(data)
        except ValueError:
            raise DecodeError(f"not a DER certificate: {der_error}", where=where) from None
    if not certs:
        raise DecodeError("a PKCS#7 bundle without certificates", where=where)
    if len(certs) > max_certs:
        raise DecodeError(f"more than {max_certs} certificates", where=where)
    return certs


def _pem_certificates(data: bytes, *, where: str, max_certs: int) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for match in _PEM_BLOCK.finditer(data):
        label = match.group(1)
        line = data.count(b"\n", 0, match.start()) + 1
        if label == b"PKCS7":
            try:
                certs += pkcs7.load_pem_pkcs7_certificates(match.group(0))
            except ValueError as exc:
                raise DecodeError(f"PKCS#7 block at line {line}: {exc}", where=where) from None
        elif label in _CERT_LABELS:
            block = match.group(0)
            if label != b"CERTIFICATE":  # OpenSSL's aliases for the same DER
                block = block.replace(label, b"CERTIFICATE")
            try:
                certs.append(x509.load_pem_x509_certificate(block))
            except (ValueError, x509.InvalidVersion) as exc:
                raise DecodeError(
                    f"certificate {len(certs) + 1} at line {line}: {exc}", where=where
                ) from None
        # Keys and other blocks in a bundle are skipped: a PEM file from a web server often
        # carries its key and the chain together.
        if len(certs) > max_certs:
            raise DecodeError(f"more than {max_certs} certificates", where=where)
    if not certs:
        raise DecodeError("no PEM certificate block (BEGIN CERTIFICATE)", where=where)
    return certs


def load_crls(
    data: bytes, *, where: str, max_crls: int = 64
) -> list[x509.CertificateRevocationList]:
    """Every CRL in ``data`` (PEM blocks or one DER CRL)."""
    if not is_pem(data):
        try:
            return [x509.load_der_x509_crl(data)]
        except ValueError as exc:
            raise DecodeError(f"not a DER CRL: {exc}", where=where) from None
    crls: list[x509.CertificateRevocationList] = []
    for match in _PEM_BLOCK.finditer(data):
        if match.group(1) not in _CRL_LABELS:
            continue
        line = data.count(b"\n", 0, match.start()) + 1
        try:
            crls.append(x509.load_pem_x509_crl(match.group(0)))
        except ValueError as exc:
            raise DecodeError(f"CRL {len(crls) + 1} at line {line}: {exc}", where=where) from None
        if len(crls) > max_crls:
            raise DecodeError(f"more than {max_crls} CRLs", where=where)
    if not crls:
        raise DecodeError("no PEM CRL block (BEGIN X509 CRL)", where=where)
    return crls


def load_certificate_files(
    paths: list[Path], *, max_certs: int = MAX_CHAIN_CERTS
) -> list[x509.Certificate]:
    certs: list[x509.Certificate] = []
    for path in paths:
        certs += load_certificates(read_bytes(path), where=str(path), max_certs=max_certs)
        if len(certs) > max_certs:
            raise DecodeError(f"more than {max_certs} certificates in all", where=str(path))
    return certs

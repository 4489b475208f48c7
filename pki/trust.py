"""Trust stores: the roots a purpose trusts (the city's and the nation's CAs), from bundles.

A store is built once and shared: it keeps the roots for ``cryptography``'s verifier and, parsed
once more, for pyhanko-certvalidator (which works on asn1crypto objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import Store

from cityshield.errors import ConfigError, DecodeError
from pki.encoding import MAX_BUNDLE_BYTES, MAX_BUNDLE_CERTS, load_certificates, read_bytes
from pki.model import fingerprint

#: Files a trust folder may hold (as OpenSSL's c_rehash and Debian's ca-certificates name them).
BUNDLE_SUFFIXES = (".pem", ".crt", ".cer", ".der")


class TrustStore:
    """An immutable set of trust anchors, de-duplicated by fingerprint."""

    def __init__(self, certificates: Iterable[x509.Certificate], *, name: str = "trust store"):
        unique: dict[str, x509.Certificate] = {}
        for cert in certificates:
            unique.setdefault(fingerprint(cert), cert)
        self.name = name
        self.certificates: tuple[x509.Certificate, ...] = tuple(unique.values())
        self.fingerprints = frozenset(unique)

    def __len__(self) -> int:
        return len(self.certificates)

    def __contains__(self, cert: x509.Certificate) -> bool:
        return fingerprint(cert) in self.fingerprints

    @cached_property
    def store(self) -> Store:
        """For ``cryptography.x509.verification.PolicyBuilder.store``."""
        return Store(list(self.certificates))

    @cached_property
    def asn1(self) -> list[asn1_x509.Certificate]:
        """For pyhanko-certvalidator's ``ValidationContext(trust_roots=...)``."""
        return [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in self.certificates]

    @classmethod
    def from_paths(cls, paths: Sequence[Path], *, name: str = "trust store") -> TrustStore:
        """Roots from bundle files and folders of them; a ``ConfigError`` names a bad file."""
        certs: list[x509.Certificate] = []
        for path in paths:
            if path.is_dir():
                files = sorted(p for p in path.iterdir() if p.suffix.lower() in BUNDLE_SUFFIXES)
                if not files:
                    raise ConfigError(f"no {', '.join(BUNDLE_SUFFIXES)} files", where=str(path))
            elif path.is_file():
                files = [path]
            else:
                raise ConfigError("trust bundle not found", where=str(path))
            for file in files:
                certs += _read_bundle(file, budget=MAX_BUNDLE_CERTS - len(certs))
        if not certs:
            raise ConfigError("no trust anchors", where=name)
        return cls(certs, name=name)


def _read_bundle(path: Path, *, budget: int) -> list[x509.Certificate]:
    try:
        data = read_bytes(path, limit=MAX_BUNDLE_BYTES)
        return load_certificates(data, where=str(path), max_certs=budget)
    except DecodeError as exc:
        raise ConfigError(exc.message, where=exc.where) from None

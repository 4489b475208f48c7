"""Revoking a registered credential: record it and issue the city CA's next CRL.

``revoke_certificate`` is the one function the registry's CLI and API, and the emergency
playbooks' ``pki.revoke_certificate`` action, call. The new CRL lists every certificate the CA
revoked through the registry (RFC 5280 section 5: a complete CRL with the next cRLNumber), is kept
in the registry, and is written to ``pki.registry.crl_path`` for the distribution point to serve.
Revoking twice is harmless: the second call records nothing and writes the latest CRL again.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from cityshield.errors import CityShieldError, StoreError
from pki.issuing import IssuingCa, RevokedEntry, issue_crl
from pki.model import fingerprint, safe_name
from pki.registry_model import Revocation, RevocationReason
from pki.registry_store import CredentialRegistry, IssuedCrl, RevocationRow


class RevocationRefused(CityShieldError):
    """The credential cannot be revoked here: no city CA is configured, or another CA issued it."""


def revoke_certificate(
    registry: CredentialRegistry,
    ca: IssuingCa | None,
    *,
    credential_id: str,
    reason: RevocationReason,
    by: str,
    at: datetime,
    crl_path: Path | None = None,
    crl_validity: timedelta = timedelta(days=7),
) -> Revocation:
    """Revoke the certificate that credential ``credential_id`` uses and publish the new CRL.

    ``NotFoundError`` for an unknown id; ``RevocationRefused`` without a CA or for a certificate
    the CA did not issue; ``StoreError`` when the CRL cannot be written (the revocation and the
    CRL are recorded in the registry: revoking again writes it).
    """
    credential = registry.get(credential_id)
    cert = registry.certificate(credential_id)
    sha = fingerprint(cert)
    existing = registry.revoked(sha)
    if existing is not None:
        crl = registry.latest_crl(existing.ca_sha256)
        if crl is None:  # recorded without a CRL: not something this module does
            raise StoreError("a revocation without its CRL", where=registry.where)
        return _answer(existing, crl, cert, _publish(crl.der, crl_path), already=True)
    if ca is None:
        raise RevocationRefused(
            "no city CA to sign a CRL with: set pki.registry.ca_certificate and ca_key",
            where="pki.registry",
        )
    if not _issued_by(cert, ca.certificate):
        raise RevocationRefused(
            f"the certificate of {credential.system} was issued by {safe_name(cert, 'issuer')}, "
            f"not by the city CA ({safe_name(ca.certificate, 'subject')}): its own CA must "
            "revoke it",
            where=credential_id,
        )
    row = RevocationRow(
        sha256=sha,
        serial=cert.serial_number,
        ca_sha256=fingerprint(ca.certificate),
        credential_id=credential_id,
        system=credential.system,
        reason=reason,
        revoked_at=at,
        revoked_by=by,
    )

    def sign(entries: list[RevokedEntry], number: int) -> IssuedCrl:
        der = issue_crl(ca, entries, number=number, this_update=at, validity=crl_validity)
        return IssuedCrl(number, at + crl_validity, der)

    crl = registry.revoke(row, sign)
    return _answer(row, crl, cert, _publish(crl.der, crl_path), already=False)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _publish(der: bytes, path: Path | None) -> str | None:
    """Write the CRL where the distribution point serves it: a new file renamed over the old one,
    so that a client never downloads half a CRL."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(der)
        Path(tmp).chmod(0o644)  # a CRL is public
        Path(tmp).replace(path)
    except OSError as exc:
        raise StoreError(
            f"the revocation is recorded but its CRL could not be written ({exc.strerror or exc});"
            " revoke again to retry",
            where=str(path),
        ) from None
    return str(path)


def _answer(
    row: RevocationRow, crl: IssuedCrl, cert: x509.Certificate, path: str | None, *, already: bool
) -> Revocation:
    return Revocation(
        credential_id=row.credential_id,
        system=row.system,
        serial=format(row.serial, "x"),
        sha256=row.sha256,
        reason=row.reason,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
        issuer=safe_name(cert, "issuer"),
        crl_number=crl.number,
        crl_next_update=crl.next_update,
        crl_path=path,
        already_revoked=already,
    )

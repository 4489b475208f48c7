"""RFC 5280 path validation and revocation checking with pyhanko-certvalidator: the second stage.

It runs on the one path the first stage (``pki.path``) built, never on raw input: pyhanko's own
path builder explores every combination of same-named issuers, which pathological chains turn
into minutes (seen on x509-limbo's ``pathological`` cases), and it raises non-library exceptions
(RecursionError, TypeError, NotImplementedError) on some malformed certificates. Both are kept
out by validating a bounded, already signature-checked path and turning any exception into a
finding.

For the ``rfc5280`` profile this stage is the validation (certificate policies, policy mapping,
name constraints of every form, basic constraints, key usage of CAs); for ``webpki`` it adds
the revocation checks that ``cryptography`` does not do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator import errors
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.context import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    PKIXValidationParams,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.validate import async_validate_path

from pki.model import Finding, RevocationMode
from pki.reasons import Reason
from pki.revocation import RevocationCache, fetchers_for

_NO_CHECK = RevocationCheckingPolicy(
    ee_certificate_rule=RevocationCheckingRule.NO_CHECK,
    intermediate_ca_cert_rule=RevocationCheckingRule.NO_CHECK,
)


@dataclass(frozen=True, slots=True)
class PolicyOptions:
    """RFC 5280 section 6.1.1 inputs (c) to (f): which certificate policies the path must carry."""

    required_policies: frozenset[str] = frozenset()  # dotted OIDs; empty: any policy
    policy_mapping_inhibit: bool = False
    any_policy_inhibit: bool = False

    def params(self) -> PKIXValidationParams:
        return PKIXValidationParams(
            user_initial_policy_set=self.required_policies or frozenset(["any_policy"]),
            initial_explicit_policy=bool(self.required_policies),
            initial_policy_mapping_inhibit=self.policy_mapping_inhibit,
            initial_any_policy_inhibit=self.any_policy_inhibit,
        )


@dataclass(slots=True)
class RevocationInputs:
    """Revocation information given rather than fetched: CRL files, OCSP answers, staples."""

    crls: list[bytes] = field(default_factory=list)  # DER
    ocsp_responses: list[bytes] = field(default_factory=list)  # DER


def validate(
    chain: Sequence[x509.Certificate],
    *,
    at: datetime,
    revocation: RevocationMode,
    cache: RevocationCache | None,
    given: RevocationInputs,
    policies: PolicyOptions | None,
) -> list[Finding]:
    """Findings for ``chain`` (leaf first, trust anchor last); empty when it is valid.

    ``policies`` None skips nothing of RFC 5280 but asks for no particular policy.
    """
    der = [asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in chain]
    if len(der) == 1:
        path = ValidationPath(CertTrustAnchor(der[0]), [], None)
    else:
        path = ValidationPath(CertTrustAnchor(der[-1]), list(reversed(der[1:-1])), der[0])
    try:
        context = _context(at, _rules(revocation, chain, given), cache, given, der)
    except ValueError as exc:  # an unreadable CRL or OCSP answer given by the user
        return [Finding.error(Reason.REVOCATION_UNKNOWN, f"revocation input: {exc}"[:500])]
    params = (policies or PolicyOptions()).params()
    try:
        asyncio.run(async_validate_path(context, path, parameters=params))
    except errors.PathValidationError as exc:
        return [_finding(exc)]
    except Exception as exc:  # pyhanko's non-library errors on hostile input
        message = f"the RFC 5280 validator could not process the path: {type(exc).__name__}"
        return [Finding.error(Reason.MALFORMED, message)]
    return [
        Finding.warning(Reason.REVOCATION_UNKNOWN, f"{exc}"[:500])
        for exc in context.soft_fail_exceptions
    ]


def _rules(
    mode: RevocationMode, chain: Sequence[x509.Certificate], given: RevocationInputs
) -> RevocationCheckingPolicy:
    """The revocation rules for the path. A CRL that the user gave for an issuer of the path is
    always consulted: pyhanko's soft-fail and hard-fail modes only look at CRLs for certificates
    that name a distribution point, and a CRL handed over on purpose must not be ignored."""
    if mode is RevocationMode.OFF:
        return _NO_CHECK
    base: RevocationCheckingPolicy = RevocationCheckingPolicy.from_legacy(mode.value)
    if not given.crls:
        return base
    issuers = set()
    for data in given.crls:
        try:
            issuers.add(x509.load_der_x509_crl(data).issuer)
        except ValueError:
            continue  # reported when pyhanko reads it
    ee_rule, ca_rule = base.ee_certificate_rule, base.intermediate_ca_cert_rule
    if chain[0].issuer in issuers and len(chain) > 1:
        ee_rule = RevocationCheckingRule.CRL_REQUIRED
    cas = chain[1:-1]
    if cas and all(c.issuer in issuers for c in cas):
        ca_rule = RevocationCheckingRule.CRL_REQUIRED
    return RevocationCheckingPolicy(ee_certificate_rule=ee_rule, intermediate_ca_cert_rule=ca_rule)


def _context(
    at: datetime,
    policy: RevocationCheckingPolicy,
    cache: RevocationCache | None,
    given: RevocationInputs,
    path: list[asn1_x509.Certificate],
) -> ValidationContext:
    """A context that knows the path's certificates (OCSP and CRL issuers are looked up among
    them) and trusts its anchor only."""
    crls = [asn1_crl.CertificateList.load(d) for d in given.crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(d) for d in given.ocsp_responses]
    for item in (*crls, *ocsps):
        item.native  # noqa: B018 - parse it all now, so that a broken one is a ValueError here
    fetching = cache is not None and policy is not _NO_CHECK
    return ValidationContext(
        trust_roots=path[-1:],
        other_certs=path[1:-1],
        moment=at,
        allow_fetching=fetching,
        fetchers=fetchers_for(cache) if fetching and cache is not None else None,
        crls=crls,
        ocsps=ocsps,
        revinfo_policy=CertRevTrustPolicy(policy),
        # Our policy checks judge hashes and keys with reason codes; pyhanko's default refuses
        # MD5 and SHA-1 too, which keeps the two in step.
    )


def _finding(exc: errors.PathValidationError) -> Finding:
    text = str(exc)[:500]
    if isinstance(exc, errors.RevokedError):
        return Finding.error(Reason.REVOKED, text)
    if isinstance(exc, errors.StaleRevinfoError):
        return Finding.error(Reason.REVOCATION_STALE, text)
    if isinstance(exc, errors.InsufficientRevinfoError):
        return Finding.error(Reason.REVOCATION_UNKNOWN, text)
    if isinstance(exc, errors.ExpiredError):
        return Finding.error(Reason.EXPIRED, text)
    if isinstance(exc, errors.NotYetValidError):
        return Finding.error(Reason.NOT_YET_VALID, text)
    if isinstance(exc, errors.DisallowedAlgorithmError):
        return Finding.error(Reason.WEAK_SIGNATURE, text)
    lowered = text.lower()
    for needle, reason in (
        ("names of", Reason.NAME_CONSTRAINTS),
        ("polic", Reason.POLICY),
        ("not a ca", Reason.CA_INVALID),
        ("key usage", Reason.CA_INVALID),
        ("path length", Reason.CHAIN_TOO_LONG),
        ("signature", Reason.INVALID_SIGNATURE),
        ("critical extension", Reason.EXTENSION_INVALID),
    ):
        if needle in lowered:
            return Finding.error(reason, text)
    return Finding.error(Reason.PATH_INVALID, text)

"""Path building and validation with ``cryptography.x509.verification``: the first stage of a check.

The ``webpki`` profile uses the verifier as it is (CA/Browser Forum rules). The ``rfc5280`` profile
uses it with every extension permitted, only to build a signature-checked path within the
verifier's budgets (depth, signature checks, name-constraint checks: our defence against
pathological chains); pyhanko-certvalidator then validates that path by RFC 5280's rules. The
verifier reports failures as text only, so ``reason_for`` maps its messages to reason codes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    VerificationError,
)

from pki.encoding import PARSE_ERRORS
from pki.model import Finding, Profile, Purpose
from pki.reasons import Reason
from pki.trust import TrustStore

#: Longest path (intermediates) the verifier explores; cryptography's default too.
MAX_DEPTH = 8


@dataclass(slots=True)
class BuiltPath:
    """The validated path (leaf first, trust anchor last), or why there is none."""

    chain: list[x509.Certificate] = field(default_factory=list)
    finding: Finding | None = None


def build_path(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    trust: TrustStore,
    *,
    at: datetime,
    purpose: Purpose,
    profile: Profile,
    host: str | None,
    max_depth: int = MAX_DEPTH,
) -> BuiltPath:
    builder = PolicyBuilder().store(trust.store).time(at).max_chain_depth(max_depth)
    if profile is Profile.RFC5280:
        # Extensions and key usages are RFC 5280's business (pyhanko) and our policy's, not the
        # CA/B Forum's; the verifier still checks signatures, validity and name constraints.
        # (The verifier insists that a CA policy requires basicConstraints, as RFC 5280
        # section 4.2.1.9 does of every CA certificate.)
        ca_policy = ExtensionPolicy.permit_all().require_present(
            x509.BasicConstraints, Criticality.AGNOSTIC, None
        )
        builder = builder.extension_policies(
            ca_policy=ca_policy, ee_policy=ExtensionPolicy.permit_all()
        )
    try:
        if purpose is Purpose.TLS_SERVER and profile is Profile.WEBPKI and host:
            verifier = builder.build_server_verifier(_subject(host))
            chain = verifier.verify(leaf, intermediates)
        else:
            if purpose is not Purpose.TLS_CLIENT and profile is Profile.WEBPKI:
                # The CA/B rules know TLS only; document signing credentials (and a server seen
                # without a name) are checked as the CA rules demand, and the leaf's usage by
                # the policy checks.
                builder = builder.extension_policies(
                    ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                    ee_policy=ExtensionPolicy.permit_all(),
                )
            chain = builder.build_client_verifier().verify(leaf, intermediates).chain
    except VerificationError as exc:
        if "not valid at validation time" in str(exc):
            return BuiltPath(finding=_time_finding([leaf, *intermediates], at))
        return BuiltPath(finding=finding_for(str(exc), leaf))
    except PARSE_ERRORS as exc:  # a malformed name or certificate met while building
        return BuiltPath(finding=Finding.error(Reason.MALFORMED, f"{exc}"[:500]))
    return BuiltPath(chain=list(chain))


def _subject(host: str) -> x509.verification.Subject:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


#: Substrings of the verifier's messages (cryptography 44 to 50) and the reason they mean, most
#: specific first.
_MESSAGES: tuple[tuple[str, Reason], ...] = (
    ("no matching subjectAltName", Reason.HOSTNAME_MISMATCH),
    ("name constraint", Reason.NAME_CONSTRAINTS),
    ("maximum signature check", Reason.CHAIN_TOO_LONG),
    ("max depth", Reason.CHAIN_TOO_LONG),
    ("path length", Reason.CHAIN_TOO_LONG),
    ("signature does not match", Reason.INVALID_SIGNATURE),
    ("Forbidden signature algorithm", Reason.WEAK_SIGNATURE),
    ("signatureAlgorithm", Reason.WEAK_SIGNATURE),
    ("Forbidden public key", Reason.WEAK_KEY),
    ("key is too weak", Reason.WEAK_KEY),
    ("malformed public key", Reason.WEAK_KEY),
    ("EKU", Reason.EXTENDED_KEY_USAGE),
    ("basicConstraints.cA must be asserted", Reason.CA_INVALID),
    ("keyCertSign must be asserted", Reason.CA_INVALID),
    ("must not assert keyCertSign", Reason.KEY_USAGE),
    ("missing required extension", Reason.MISSING_EXTENSION),
    ("extension", Reason.EXTENSION_INVALID),
    ("subjectAltName", Reason.EXTENSION_INVALID),
    ("ASN.1", Reason.MALFORMED),
    ("serial", Reason.MALFORMED),
    ("Issuer", Reason.MALFORMED),
    ("X509v3", Reason.MALFORMED),
    ("basicConstraints.cA must not be asserted", Reason.CA_INVALID),
)


def finding_for(message: str, leaf: x509.Certificate) -> Finding:
    """The finding a verifier message stands for."""
    text = message.removeprefix("validation failed: ")[:500]
    for needle, reason in _MESSAGES:
        if needle in text:
            return Finding.error(reason, text)
    if "no interior errors" in text or "candidates exhausted" in text:
        if leaf.issuer == leaf.subject:
            return Finding.error(Reason.SELF_SIGNED, "self-signed, and not a trusted root")
        return Finding.error(Reason.UNTRUSTED_ISSUER, text)
    return Finding.error(Reason.PATH_INVALID, text)


def _time_finding(presented: list[x509.Certificate], at: datetime) -> Finding:
    if not any(c.not_valid_after_utc < at for c in presented) and any(
        c.not_valid_before_utc > at for c in presented
    ):
        return Finding.error(Reason.NOT_YET_VALID)
    return Finding.error(Reason.EXPIRED)  # a presented certificate or a trust anchor

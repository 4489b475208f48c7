"""Reason codes: why a credential check failed or warns, one stable snake_case code per cause.

Codes are API: the CLI's ``--json``, the HTTP API and alerts carry them, and SOC tooling matches
on them. Add codes; never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # -- input ------------------------------------------------------------------------------------
    MALFORMED = "malformed"  # not a certificate, or not one this checker can read
    NO_TRUST_STORE = "no_trust_store"  # nothing to validate against: the path check was skipped
    # -- path -------------------------------------------------------------------------------------
    UNTRUSTED_ISSUER = "untrusted_issuer"  # no path to a trust anchor
    SELF_SIGNED = "self_signed"  # a self-signed leaf that is not itself a trust anchor
    INVALID_SIGNATURE = "invalid_signature"
    CHAIN_TOO_LONG = "chain_too_long"  # path length constraints or the depth budget
    NAME_CONSTRAINTS = "name_constraints"
    POLICY = "policy"  # certificate policies (RFC 5280 section 6.1 policy processing)
    CA_INVALID = "ca_invalid"  # an issuer that may not issue (basicConstraints, keyCertSign)
    EXTENSION_INVALID = "extension_invalid"  # malformed, duplicate or unknown critical extension
    PATH_INVALID = "path_invalid"  # a path validation failure with no finer code
    # -- time -------------------------------------------------------------------------------------
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRING_SOON = "expiring_soon"  # a warning: expires within the warning window
    VALIDITY_TOO_LONG = "validity_too_long"
    # -- algorithms -------------------------------------------------------------------------------
    WEAK_KEY = "weak_key"  # RSA under the minimum size, an unapproved curve or key type
    WEAK_SIGNATURE = "weak_signature"  # MD5, SHA-1 or another forbidden hash
    # -- purpose ----------------------------------------------------------------------------------
    HOSTNAME_MISMATCH = "hostname_mismatch"
    KEY_USAGE = "key_usage"  # keyUsage does not allow the purpose
    EXTENDED_KEY_USAGE = "extended_key_usage"  # extendedKeyUsage does not allow the purpose
    MISSING_EXTENSION = "missing_extension"  # an extension the profile requires is absent
    # -- revocation -------------------------------------------------------------------------------
    REVOKED = "revoked"
    REVOCATION_UNKNOWN = "revocation_unknown"  # no usable CRL or OCSP answer
    REVOCATION_STALE = "revocation_stale"  # the CRL or OCSP answer is past its nextUpdate


DESCRIPTIONS: dict[Reason, str] = {
    Reason.MALFORMED: "the input is not a well-formed certificate",
    Reason.NO_TRUST_STORE: "no trust store for this purpose: the chain was not validated",
    Reason.UNTRUSTED_ISSUER: "the chain does not lead to a trusted root",
    Reason.SELF_SIGNED: "the certificate is self-signed and not a trusted root",
    Reason.INVALID_SIGNATURE: "a signature in the chain does not verify",
    Reason.CHAIN_TOO_LONG: "the chain is longer than a CA or the checker allows",
    Reason.NAME_CONSTRAINTS: "a name is outside what an issuing CA may certify",
    Reason.POLICY: "the certificate policies required are not satisfied",
    Reason.CA_INVALID: "an issuer in the chain is not allowed to issue certificates",
    Reason.EXTENSION_INVALID: "an extension is malformed, repeated, or critical and unknown",
    Reason.PATH_INVALID: "the certification path is not valid",
    Reason.EXPIRED: "a certificate in the chain has expired",
    Reason.NOT_YET_VALID: "a certificate in the chain is not valid yet",
    Reason.EXPIRING_SOON: "the certificate expires soon",
    Reason.VALIDITY_TOO_LONG: "the validity period is longer than the profile allows",
    Reason.WEAK_KEY: "a key is too small or of an unapproved type or curve",
    Reason.WEAK_SIGNATURE: "a signature uses a forbidden hash (MD5, SHA-1)",
    Reason.HOSTNAME_MISMATCH: "the certificate is not for this host name",
    Reason.KEY_USAGE: "the key usage does not allow this purpose",
    Reason.EXTENDED_KEY_USAGE: "the extended key usage does not allow this purpose",
    Reason.MISSING_EXTENSION: "an extension that the profile requires is missing",
    Reason.REVOKED: "a certificate in the chain is revoked",
    Reason.REVOCATION_UNKNOWN: "the revocation status could not be established",
    Reason.REVOCATION_STALE: "the revocation information is out of date",
}

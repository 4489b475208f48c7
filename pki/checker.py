"""``ChainChecker``: one verdict for a presented chain, from the policy checks, the path (built by
``cryptography``) and RFC 5280 validation with revocation (pyhanko-certvalidator).

Built once by the composition root with the trust stores, policy settings and a revocation cache,
then shared (it holds no per-check state).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509

from cityshield.clock import Clock, SystemClock
from pki.encoding import MAX_CHAIN_CERTS, PARSE_ERRORS
from pki.model import (
    CertificateSummary,
    Finding,
    Profile,
    Purpose,
    RevocationMode,
    Severity,
    Verdict,
    utc,
)
from pki.path import MAX_DEPTH, build_path
from pki.policy import PolicySettings, check_policy
from pki.reasons import Reason
from pki.revocation import RevocationCache
from pki.rfc5280 import PolicyOptions, RevocationInputs, validate
from pki.trust import TrustStore

_REVOCATION_CODES = frozenset({Reason.REVOKED, Reason.REVOCATION_UNKNOWN, Reason.REVOCATION_STALE})


@dataclass(frozen=True, slots=True)
class CheckOptions:
    purpose: Purpose = Purpose.TLS_SERVER
    profile: Profile = Profile.WEBPKI
    host: str | None = None
    at: datetime | None = None  # None: the checker's clock
    revocation: RevocationMode = RevocationMode.SOFT_FAIL
    given: RevocationInputs = field(default_factory=RevocationInputs)
    policies: PolicyOptions | None = None
    #: Fetch CRLs and OCSP answers (through the checker's cache); False: only what is given.
    fetch: bool = True
    #: Extra trust anchors for this check only (``--trust``), added to the purpose's store.
    extra_anchors: tuple[x509.Certificate, ...] = ()


class ChainChecker:
    def __init__(
        self,
        trust: Mapping[Purpose, TrustStore],
        *,
        policy: Mapping[Profile, PolicySettings] | None = None,
        cache: RevocationCache | None = None,
        clock: Clock | None = None,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        self.trust = dict(trust)
        self.policy = {**default_policies(), **(policy or {})}
        self.cache = cache
        self.clock = clock or SystemClock()
        self.max_depth = max_depth

    def check(self, presented: Sequence[x509.Certificate], options: CheckOptions) -> Verdict:
        """The verdict for ``presented`` (leaf first, then any intermediates in any order)."""
        try:
            return self._check(presented, options)
        except PARSE_ERRORS as exc:
            # A part of a certificate that cryptography parses only when first read.
            at = (utc(options.at) if options.at else self.clock.now()).replace(microsecond=0)
            return Verdict(
                valid=False,
                profile=options.profile,
                purpose=options.purpose,
                host=options.host,
                at=at,
                revocation=options.revocation,
                findings=[Finding.error(Reason.MALFORMED, f"{exc}"[:500])],
            )

    def _check(self, presented: Sequence[x509.Certificate], options: CheckOptions) -> Verdict:
        # Validity is encoded in whole seconds; comparing at that granularity is how CAs and
        # browsers read RFC 5280 (x509-limbo rfc5280::validity::notafter-fractional).
        at = (utc(options.at) if options.at else self.clock.now()).replace(microsecond=0)
        findings: list[Finding] = []
        path: list[x509.Certificate] = []
        if not presented:
            findings.append(Finding.error(Reason.MALFORMED, "no certificate"))
        elif len(presented) > MAX_CHAIN_CERTS:
            findings.append(
                Finding.error(Reason.CHAIN_TOO_LONG, f"more than {MAX_CHAIN_CERTS} certificates")
            )
        else:
            path, path_findings = self._validate(presented, options, at)
            # The policy judges the path when there is one: a stray expired intermediate that
            # the path does not use is no problem (x509-limbo's multiple-chains cases).
            findings += check_policy(
                path or [presented[0]],
                purpose=options.purpose,
                host=options.host,
                at=at,
                settings=self.policy[options.profile],
                anchored=bool(path),
            )
            findings += path_findings
        return Verdict(
            valid=not any(f.severity is Severity.ERROR for f in findings),
            profile=options.profile,
            purpose=options.purpose,
            host=options.host,
            at=at,
            revocation=options.revocation,
            presented=[CertificateSummary.of(c) for c in presented[:MAX_CHAIN_CERTS]],
            path=[CertificateSummary.of(c) for c in path],
            findings=_dedupe(findings),
        )

    def _validate(
        self, presented: Sequence[x509.Certificate], options: CheckOptions, at: datetime
    ) -> tuple[list[x509.Certificate], list[Finding]]:
        store = self.trust.get(options.purpose)
        if options.extra_anchors:
            anchors = [*(store.certificates if store else ()), *options.extra_anchors]
            store = TrustStore(anchors, name="trust store and --trust")
        if store is None or not len(store):
            return [], [
                Finding.warning(Reason.NO_TRUST_STORE, f"no trust store for {options.purpose}")
            ]
        built = build_path(
            presented[0],
            list(presented[1:]),
            store,
            at=at,
            purpose=options.purpose,
            profile=options.profile,
            host=options.host,
            max_depth=self.max_depth,
        )
        if built.finding is not None:
            return [], [built.finding]
        given = bool(options.given.crls or options.given.ocsp_responses)
        needs_second_stage = (
            options.profile is Profile.RFC5280
            or options.revocation is RevocationMode.REQUIRE
            or (options.revocation is not RevocationMode.OFF and (options.fetch or given))
        )
        if not needs_second_stage:
            return built.chain, []
        findings = validate(
            built.chain,
            at=at,
            revocation=options.revocation,
            cache=self.cache if options.fetch else None,
            given=options.given,
            policies=options.policies,
        )
        if options.profile is Profile.WEBPKI:
            findings = [_revocation_only(f, options.revocation) for f in findings]
        return built.chain, findings


def _revocation_only(finding: Finding, mode: RevocationMode) -> Finding:
    """Under ``webpki`` the RFC 5280 stage only answers for revocation: when it stops on another
    complaint, revocation was not established (an error only when the mode demands it)."""
    if finding.code in _REVOCATION_CODES:
        return finding
    message = f"revocation not checked: {finding.message}"[:500]
    if mode is RevocationMode.SOFT_FAIL:
        return Finding.warning(Reason.REVOCATION_UNKNOWN, message, finding.position)
    return Finding.error(Reason.REVOCATION_UNKNOWN, message, finding.position)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """One finding per code and position; an error on a code makes a warning on it redundant."""
    seen: dict[tuple[Reason, int | None], Finding] = {}
    for f in findings:
        key = (f.code, f.position)
        if key not in seen or seen[key].severity is Severity.WARNING:
            seen[key] = f
    errors = {f.code for f in seen.values() if f.severity is Severity.ERROR}
    placed = {f.code for f in seen.values() if f.position is not None}
    return [
        f
        for f in seen.values()
        if (f.severity is Severity.ERROR or f.code not in errors)
        and (f.position is not None or f.code not in placed)
    ]


def default_policies() -> dict[Profile, PolicySettings]:
    return {
        Profile.WEBPKI: PolicySettings(),
        # Government PKIs issue qualified and organisation certificates for up to five years.
        Profile.RFC5280: PolicySettings(max_leaf_validity_days=5 * 366),
    }

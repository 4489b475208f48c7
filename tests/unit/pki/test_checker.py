"""ChainChecker on a real city PKI: good, expired, self-signed, wrong name, weak, revoked (CRL and
OCSP served over HTTP on loopback), and what each revocation mode does when nobody answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from cityshield.clock import FixedClock
from pki.checker import ChainChecker, CheckOptions
from pki.model import Profile, Purpose, RevocationMode
from pki.reasons import Reason
from pki.revocation import RevocationCache
from pki.trust import TrustStore
from tests.unit.pki.conftest import checker_for
from tests.unit.pki.pkikit import NOW, CityPki, Credential, Responder, make_leaf

OFF = CheckOptions(host="portal.city.example", revocation=RevocationMode.OFF)


def test_good_chain_is_valid_and_the_path_ends_at_the_root(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf("portal.city.example")
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], OFF)
    assert verdict.valid, verdict.findings
    assert [c.subject for c in verdict.path][-1] == pki.root.cert.subject.rfc4514_string()
    assert verdict.reasons == []


def test_expired_leaf(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf(
        "portal.city.example",
        not_before=NOW - timedelta(days=100),
        not_after=NOW - timedelta(days=1),
    )
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], OFF)
    assert not verdict.valid
    assert Reason.EXPIRED in verdict.reasons


def test_expiring_soon_is_a_warning_only(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf("portal.city.example", not_after=NOW + timedelta(days=5))
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], OFF)
    assert verdict.valid
    assert verdict.warnings == [Reason.EXPIRING_SOON]


def test_self_signed_leaf(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf("portal.city.example", self_signed=True)
    verdict = checker_for(pki, None, clock).check([leaf.cert], OFF)
    assert not verdict.valid
    assert verdict.reasons == [Reason.SELF_SIGNED]


def test_wrong_name(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf("other.example")
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], OFF)
    assert Reason.HOSTNAME_MISMATCH in verdict.reasons


def test_untrusted_issuer(clock: FixedClock) -> None:
    from tests.unit.pki.pkikit import make_ca, make_leaf

    pki = CityPki()
    foreign = make_ca("Foreign Issuing CA", make_ca("Foreign Root CA", None))
    leaf = make_leaf(foreign, "portal.city.example")
    verdict = checker_for(pki, None, clock).check([leaf.cert, foreign.cert], OFF)
    assert verdict.reasons == [Reason.UNTRUSTED_ISSUER]


def test_impostor_issuer_with_a_trusted_name(clock: FixedClock) -> None:
    """A CA named like the city's but with another key: the signature is what gives it away."""
    pki, impostor = CityPki(), CityPki()
    leaf = impostor.leaf("portal.city.example")
    verdict = checker_for(pki, None, clock).check([leaf.cert, impostor.issuing.cert], OFF)
    assert verdict.reasons == [Reason.INVALID_SIGNATURE]


def test_forbidden_hash_and_small_rsa_key(clock: FixedClock) -> None:
    """cryptography no longer signs with SHA-1, so the forbidden list names SHA-224 here."""
    from pki.policy import PolicySettings

    pki = CityPki()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    leaf = pki.leaf("portal.city.example", key=small, signature_hash=hashes.SHA224())
    policy = PolicySettings(forbidden_hashes=["md5", "sha1", "sha224"])
    checker = ChainChecker(
        {Purpose.TLS_SERVER: TrustStore([pki.root.cert])},
        policy={Profile.WEBPKI: policy},
        clock=clock,
    )
    verdict = checker.check([leaf.cert, pki.issuing.cert], OFF)
    assert {Reason.WEAK_KEY, Reason.WEAK_SIGNATURE} <= set(verdict.reasons)


def test_no_trust_store_skips_the_path_but_not_the_policy(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf(
        "portal.city.example",
        not_after=NOW - timedelta(days=1),
        not_before=NOW - timedelta(days=10),
    )
    verdict = ChainChecker({}, clock=clock).check([leaf.cert], OFF)
    assert Reason.NO_TRUST_STORE in verdict.warnings
    assert verdict.reasons == [Reason.EXPIRED]


def test_document_signing_needs_a_signing_usage(clock: FixedClock) -> None:
    pki = CityPki()
    leaf = pki.leaf("signer")  # serverAuth only
    options = CheckOptions(purpose=Purpose.DOCUMENT_SIGNING, revocation=RevocationMode.OFF)
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], options)
    assert verdict.reasons == [Reason.EXTENDED_KEY_USAGE]


def test_ocsp_good_over_http(
    served: tuple[CityPki, Responder], cache: RevocationCache, clock: FixedClock
) -> None:
    pki, responder = served
    leaf = pki.leaf("portal.city.example")
    options = CheckOptions(host="portal.city.example", revocation=RevocationMode.HARD_FAIL)
    verdict = checker_for(pki, cache, clock).check([leaf.cert, pki.issuing.cert], options)
    assert verdict.valid, verdict.findings
    assert responder.ocsp_requests >= 1


def test_ocsp_revoked_over_http(
    served: tuple[CityPki, Responder], cache: RevocationCache, clock: FixedClock
) -> None:
    pki, responder = served
    leaf = pki.leaf("portal.city.example")
    responder.revoked[leaf.cert.serial_number] = NOW - timedelta(days=1)
    options = CheckOptions(host="portal.city.example", revocation=RevocationMode.SOFT_FAIL)
    verdict = checker_for(pki, cache, clock).check([leaf.cert, pki.issuing.cert], options)
    assert verdict.reasons == [Reason.REVOKED]


def test_crl_revoked_over_http_and_cached(
    served: tuple[CityPki, Responder], cache: RevocationCache, clock: FixedClock
) -> None:
    pki, responder = served
    responder.ocsp_enabled = False  # the responder is down: the CRL must answer
    leaf, other = pki.leaf("portal.city.example"), pki.leaf("mail.city.example")
    responder.revoked[leaf.cert.serial_number] = NOW - timedelta(days=1)
    checker = checker_for(pki, cache, clock)
    options = CheckOptions(host="portal.city.example", revocation=RevocationMode.HARD_FAIL)
    assert checker.check([leaf.cert, pki.issuing.cert], options).reasons == [Reason.REVOKED]
    fetched = responder.crl_requests
    assert fetched >= 1
    other_options = CheckOptions(host="mail.city.example", revocation=RevocationMode.HARD_FAIL)
    assert checker.check([other.cert, pki.issuing.cert], other_options).valid
    assert responder.crl_requests == fetched  # the cached CRL answered (until its nextUpdate)
    clock.advance(timedelta(days=8))  # past nextUpdate and the cache's maximum age
    checker.check([other.cert, pki.issuing.cert], other_options)
    assert responder.crl_requests > fetched


def test_unreachable_revocation_soft_fail_warns_hard_fail_fails(clock: FixedClock) -> None:
    pki = CityPki(base_url="http://127.0.0.1:9")  # discard port: nothing answers
    leaf = pki.leaf("portal.city.example")
    from pki.fetch import FetchSettings, HttpFetcher

    cache = RevocationCache(HttpFetcher(FetchSettings(timeout_seconds=2)), clock)
    checker = checker_for(pki, cache, clock)
    soft = CheckOptions(host="portal.city.example", revocation=RevocationMode.SOFT_FAIL)
    verdict = checker.check([leaf.cert, pki.issuing.cert], soft)
    assert verdict.valid and Reason.REVOCATION_UNKNOWN in verdict.warnings
    hard = CheckOptions(host="portal.city.example", revocation=RevocationMode.HARD_FAIL)
    assert checker.check([leaf.cert, pki.issuing.cert], hard).reasons == [Reason.REVOCATION_UNKNOWN]


def test_require_without_any_revocation_source_fails(clock: FixedClock) -> None:
    pki = CityPki()  # no CRL or OCSP pointers
    leaf = pki.leaf("portal.city.example")
    options = CheckOptions(
        host="portal.city.example", revocation=RevocationMode.REQUIRE, fetch=False
    )
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], options)
    assert Reason.REVOCATION_UNKNOWN in verdict.reasons


def test_rfc5280_profile_checks_required_policies(clock: FixedClock) -> None:
    from pki.rfc5280 import PolicyOptions

    pki = CityPki()
    leaf = pki.leaf("portal.city.example")
    options = CheckOptions(
        profile=Profile.RFC5280,
        revocation=RevocationMode.OFF,
        policies=PolicyOptions(required_policies=frozenset({"1.2.3.4"})),
    )
    verdict = checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], options)
    assert verdict.reasons == [Reason.POLICY]
    plain = CheckOptions(profile=Profile.RFC5280, revocation=RevocationMode.OFF)
    assert checker_for(pki, None, clock).check([leaf.cert, pki.issuing.cert], plain).valid


def test_pathological_chain_is_answered_in_bounded_work(clock: FixedClock) -> None:
    """Sixty CAs with one name and different keys: every path to try is a dead end."""
    from tests.unit.pki.pkikit import make_ca

    pki = CityPki()
    decoys = [make_ca("City Issuing CA", pki.root) for _ in range(60)]
    leaf = pki.leaf("portal.city.example")
    verdict = checker_for(pki, None, clock).check([leaf.cert, *[d.cert for d in decoys]], OFF)
    assert not verdict.valid
    # Same name, other keys: no signature of theirs matches the leaf.
    assert verdict.reasons[0] in {Reason.INVALID_SIGNATURE, Reason.CHAIN_TOO_LONG}


def test_trust_store_dedupes_and_knows_its_roots() -> None:
    pki = CityPki()
    store = TrustStore([pki.root.cert, pki.root.cert])
    assert len(store) == 1 and pki.root.cert in store


def _constrained_ca(pki: CityPki, excluded: list[str]) -> Credential:
    from cryptography import x509

    from tests.unit.pki.pkikit import ec_key, name

    key = ec_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("Constrained CA"))
        .issuer_name(pki.root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=365))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(pki.root.key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.NameConstraints(None, [x509.DNSName(n) for n in excluded]), critical=True
        )
        .sign(pki.root.key, hashes.SHA256())
    )
    return Credential(cert, key)


@pytest.mark.parametrize("profile", [Profile.WEBPKI, Profile.RFC5280])
def test_name_constraints_are_enforced(clock: FixedClock, profile: Profile) -> None:
    pki = CityPki()
    ca = _constrained_ca(pki, ["evil.example", "x.example"])
    options = CheckOptions(
        host="portal.city.example", profile=profile, revocation=RevocationMode.OFF
    )
    good = make_leaf(ca, "portal.city.example")
    assert checker_for(pki, None, clock).check([good.cert, ca.cert], options).valid
    bad = make_leaf(ca, "portal.city.example", "login.evil.example")
    verdict = checker_for(pki, None, clock).check([bad.cert, ca.cert], options)
    assert not verdict.valid and verdict.reasons[0] is Reason.NAME_CONSTRAINTS


@pytest.mark.parametrize("profile", [Profile.WEBPKI, Profile.RFC5280])
def test_pathological_name_constraints_are_refused_not_ground_through(
    clock: FixedClock, profile: Profile
) -> None:
    """1,200 excluded subtrees against 1,200 names: 1.44 million comparisons, past the
    verifier's name-constraint budget; the answer is a refusal with its reason (a quarter of a
    second here), not minutes of work."""
    pki = CityPki()
    ca = _constrained_ca(pki, [f"x{i}.example" for i in range(1200)])
    leaf = make_leaf(ca, *[f"h{i}.city.example" for i in range(1200)])
    options = CheckOptions(host="h0.city.example", profile=profile, revocation=RevocationMode.OFF)
    verdict = checker_for(pki, None, clock).check([leaf.cert, ca.cert], options)
    assert not verdict.valid and verdict.reasons[0] is Reason.NAME_CONSTRAINTS

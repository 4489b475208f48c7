"""The revocation cache on a real CRL and OCSP server: a responder that fails is not asked again
until ``failure_ttl_seconds`` have passed, and the CRL answers meanwhile."""

from __future__ import annotations

from datetime import timedelta

from cityshield.clock import FixedClock
from pki.checker import CheckOptions
from pki.fetch import FetchSettings, HttpFetcher
from pki.model import RevocationMode
from pki.reasons import Reason
from pki.revocation import RevocationCache, RevocationCacheSettings
from tests.unit.pki.conftest import checker_for
from tests.unit.pki.pkikit import NOW, CityPki, Responder


def test_a_failing_responder_is_not_asked_again_until_its_failure_expires(
    served: tuple[CityPki, Responder], clock: FixedClock
) -> None:
    pki, responder = served
    responder.ocsp_enabled = False  # 503 to every OCSP request
    leaves = [pki.leaf(f"s{i}.city.example") for i in range(3)]
    responder.revoked[leaves[2].cert.serial_number] = NOW - timedelta(days=1)
    settings = RevocationCacheSettings(failure_ttl_seconds=300)
    cache = RevocationCache(HttpFetcher(FetchSettings(timeout_seconds=5)), clock, settings)
    checker = checker_for(pki, cache, clock)

    def check(i: int) -> list[Reason]:
        options = CheckOptions(host=f"s{i}.city.example", revocation=RevocationMode.SOFT_FAIL)
        return checker.check([leaves[i].cert, pki.issuing.cert], options).reasons

    assert check(0) == []
    asked = responder.ocsp_requests
    assert asked >= 1
    assert check(1) == [] and check(2) == [Reason.REVOKED]  # the CRL answers
    assert responder.ocsp_requests == asked and cache.failures_cached >= 2
    clock.advance(timedelta(seconds=301))
    check(0)
    assert responder.ocsp_requests > asked

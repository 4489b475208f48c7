"""Fixtures for the PKI tests: a city PKI, its revocation server on loopback, a checker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cityshield.clock import FixedClock
from pki.checker import ChainChecker
from pki.fetch import FetchSettings, HttpFetcher
from pki.model import Purpose
from pki.revocation import RevocationCache
from pki.trust import TrustStore
from tests.unit.pki.pkikit import NOW, CityPki, Responder, revocation_server


@pytest.fixture
def served() -> Iterator[tuple[CityPki, Responder]]:
    with revocation_server() as pair:
        yield pair


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def cache(clock: FixedClock) -> RevocationCache:
    return RevocationCache(HttpFetcher(FetchSettings(timeout_seconds=5)), clock)


def checker_for(pki: CityPki, cache: RevocationCache | None, clock: FixedClock) -> ChainChecker:
    trust = TrustStore([pki.root.cert])
    return ChainChecker(dict.fromkeys(Purpose, trust), cache=cache, clock=clock)

"""Revocation information: CRLs and OCSP answers fetched through a ``Fetcher`` and cached.

pyhanko-certvalidator verifies what is fetched (CRL signature and scope, OCSP signature, responder
authorisation, freshness: RFC 5280 section 6.3, RFC 6960 section 3.2); this module decides where
the bytes come from. ``RevocationCache`` keeps CRLs by URL and OCSP answers by certificate until
their nextUpdate (bounded by ``max_age_seconds`` when there is none, as RFC 5019 section 6 lets a
client do), so a busy sensor does not fetch a national CA's CRL for every handshake. A URL that
could not be fetched is not tried again for ``failure_ttl_seconds``: a responder that is down (or
never answers until the deadline) costs one attempt per interval, not one per check.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import cms, crl, ocsp, pem, x509
from pydantic import Field
from pyhanko_certvalidator import errors
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.fetchers.api import (
    CertificateFetcher,
    CRLFetcher,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.common_utils import (
    enumerate_delivery_point_urls,
    format_ocsp_request,
    process_ocsp_response_data,
)
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps, issuer_serial

from cityshield.clock import Clock
from cityshield.errors import CityShieldError
from cityshield.settings import Section
from pki.fetch import Fetcher, FetchError, FetchRequest

#: URLs tried per certificate (a certificate may list many; a hostile one lists thousands).
MAX_URLS_PER_CERT = 4


class RevocationCacheSettings(Section):
    #: CRLs and OCSP answers kept at once (the least recently used go first).
    max_entries: int = Field(default=1024, ge=1)
    #: How long an answer without nextUpdate is reused; also the longest any answer is reused.
    max_age_seconds: float = Field(default=3600.0, gt=0)
    #: Ask OCSP responders for a nonce (RFC 8954); a response that echoes another is refused.
    ocsp_nonce: bool = True
    #: How long a URL that failed (unreachable, timed out, an HTTP error) is not tried again.
    failure_ttl_seconds: float = Field(default=300.0, ge=0)


@dataclass(slots=True)
class _Entry:
    data: bytes
    expires: datetime


class RevocationCache:
    """Thread-safe cache of DER CRLs (by URL) and OCSP answers (by responder and CertID)."""

    def __init__(
        self, fetcher: Fetcher, clock: Clock, settings: RevocationCacheSettings | None = None
    ) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self.settings = settings or RevocationCacheSettings()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._failed: OrderedDict[str, tuple[datetime, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.failures_cached = 0

    def crl(self, url: str) -> crl.CertificateList:
        key = f"crl {url}"
        cached = self._get(key)
        if cached is not None:
            return crl.CertificateList.load(cached)
        data = self._fetch(FetchRequest(url, accept="application/pkix-crl"))
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        parsed = crl.CertificateList.load(data)
        parsed.native  # noqa: B018 - parse it all now: a broken CRL fails here, not later
        next_update = parsed["tbs_cert_list"]["next_update"].native
        self._put(key, data, next_update)
        return parsed

    def ocsp(self, url: str, request: ocsp.OCSPRequest, key: str) -> ocsp.OCSPResponse:
        cache_key = f"ocsp {url} {key}"
        cached = self._get(cache_key)
        if cached is not None:
            return ocsp.OCSPResponse.load(cached)
        data = self._fetch(
            FetchRequest(
                url,
                method="POST",
                body=request.dump(),
                content_type="application/ocsp-request",
                accept="application/ocsp-response",
            )
        )
        response = process_ocsp_response_data(data, ocsp_request=request, ocsp_url=url)
        self._put(cache_key, data, _ocsp_next_update(response))
        return response

    def _fetch(self, request: FetchRequest) -> bytes:
        now = self.clock.now()
        with self._lock:
            failed = self._failed.get(request.url)
            if failed is not None and failed[0] > now:
                self.failures_cached += 1
                raise FetchError(f"not retried before {failed[0]:%H:%M:%S}: {failed[1]}",
                                 where=request.url)  # fmt: skip
        try:
            return self.fetcher.fetch(request)
        except FetchError as exc:
            if self.settings.failure_ttl_seconds > 0:
                until = now + timedelta(seconds=self.settings.failure_ttl_seconds)
                with self._lock:
                    self._failed[request.url] = (until, exc.message)
                    while len(self._failed) > self.settings.max_entries:
                        self._failed.popitem(last=False)
            raise

    def _get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.expires > self.clock.now():
                self._entries.move_to_end(key)
                self.hits += 1
                return entry.data
            self.misses += 1
            return None

    def _put(self, key: str, data: bytes, next_update: datetime | None) -> None:
        now = self.clock.now()
        longest = now + timedelta(seconds=self.settings.max_age_seconds)
        expires = min(next_update, longest) if next_update else longest
        with self._lock:
            self._entries[key] = _Entry(data, expires)
            self._entries.move_to_end(key)
            while len(self._entries) > self.settings.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _ocsp_next_update(response: ocsp.OCSPResponse) -> datetime | None:
    try:
        single = response["response_bytes"]["response"].parsed["tbs_response_data"]["responses"][0]
        value: datetime | None = single["next_update"].native
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return value


class _CrlFetcher(CRLFetcher):
    def __init__(self, cache: RevocationCache) -> None:
        self._cache = cache
        self._by_cert: dict[bytes, list[crl.CertificateList]] = {}

    async def fetch(
        self, cert: x509.Certificate | cms.AttributeCertificateV2, *, use_deltas: bool = True
    ) -> Iterable[crl.CertificateList]:
        key = issuer_serial(cert)
        if key in self._by_cert:
            return self._by_cert[key]
        urls = [
            url
            for dp in get_relevant_crl_dps(cert, use_deltas=use_deltas)
            for url in enumerate_delivery_point_urls(dp)
        ][:MAX_URLS_PER_CERT]
        found: list[crl.CertificateList] = []
        problems: list[str] = []
        for url in urls:
            try:
                found.append(self._cache.crl(url))
            except (CityShieldError, ValueError, TypeError) as exc:
                problems.append(f"{url}: {exc}")
        if problems and not found:
            raise errors.CRLFetchError("; ".join(problems)[:1000])
        self._by_cert[key] = found
        return found

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return [c for crls in self._by_cert.values() for c in crls]

    def fetched_crls_for_cert(
        self, cert: x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[crl.CertificateList]:
        return self._by_cert[issuer_serial(cert)]


class _OcspFetcher(OCSPFetcher):
    def __init__(self, cache: RevocationCache) -> None:
        self._cache = cache
        self._by_cert: dict[bytes, list[ocsp.OCSPResponse]] = {}

    async def fetch(
        self, cert: x509.Certificate | cms.AttributeCertificateV2, authority: Authority
    ) -> ocsp.OCSPResponse:
        if not isinstance(cert, x509.Certificate):
            raise errors.OCSPFetchError("attribute certificates are not checked")
        request = format_ocsp_request(
            cert,
            authority,
            certid_hash_algo="sha1",  # what responders universally accept (RFC 5019 section 2.1.1)
            request_nonces=self._cache.settings.ocsp_nonce,
        )
        certid = request["tbs_request"]["request_list"][0]["req_cert"].dump().hex()
        problems: list[str] = []
        for url in get_ocsp_urls(cert)[:MAX_URLS_PER_CERT]:
            try:
                response = self._cache.ocsp(url, request, certid)
            except (CityShieldError, errors.OCSPValidationError, ValueError, TypeError) as exc:
                problems.append(f"{url}: {exc}")
                continue
            self._by_cert.setdefault(issuer_serial(cert), []).append(response)
            return response
        raise errors.OCSPFetchError("; ".join(problems)[:1000] or "no OCSP responder URL")

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return [r for rs in self._by_cert.values() for r in rs]

    def fetched_responses_for_cert(
        self, cert: x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[ocsp.OCSPResponse]:
        return self._by_cert.get(issuer_serial(cert), [])


class _NoCertificateFetcher(CertificateFetcher):
    """Issuers are never fetched from AIA: the path is built from what was presented and the
    trust store (fetching "caIssuers" would let a certificate steer the checker's requests)."""

    async def _nothing(self) -> AsyncGenerator[x509.Certificate, None]:
        return
        yield  # an async generator that yields nothing

    def fetch_cert_issuers(
        self, cert: x509.Certificate | cms.AttributeCertificateV2
    ) -> AsyncGenerator[x509.Certificate, None]:
        return self._nothing()

    def fetch_crl_issuers(self, certificate_list: object) -> AsyncGenerator[x509.Certificate, None]:
        return self._nothing()

    def fetched_certs(self) -> Iterable[x509.Certificate]:
        return []


def fetchers_for(cache: RevocationCache) -> Fetchers:
    """pyhanko-certvalidator fetchers over the cache, for one validation."""
    return Fetchers(
        ocsp_fetcher=_OcspFetcher(cache),
        crl_fetcher=_CrlFetcher(cache),
        cert_fetcher=_NoCertificateFetcher(),
    )

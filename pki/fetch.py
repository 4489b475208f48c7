"""Fetching CRLs and OCSP answers over HTTP: the one place where pki does network I/O.

The URLs come from certificates, so from whoever made them: a fetch has a deadline (not only a
per-read timeout, which a server dripping one byte a second would never trip), a size budget, no
redirects, and refuses schemes other than HTTP(S) and link-local or unspecified addresses (cloud
metadata services live there). ``Fetcher`` is a protocol so that the composition root, tests and
benchmarks choose the implementation.
"""

from __future__ import annotations

import ipaddress
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field

from cityshield.errors import CityShieldError
from cityshield.settings import Section


class FetchError(CityShieldError):
    """A URL that could not be fetched within the budgets; ``where`` is the URL."""


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    method: Literal["GET", "POST"] = "GET"
    body: bytes | None = None
    content_type: str | None = None
    accept: str = "*/*"


class Fetcher(Protocol):
    def fetch(self, request: FetchRequest) -> bytes:
        """The response body of a successful (2xx) answer, or a ``FetchError``."""
        ...


class FetchSettings(Section):
    #: Whole-request deadline (connect, send, read), seconds.
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    #: Largest response read; a national CA's CRL can reach tens of MiB.
    max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    #: When set, only these host names are fetched from (for example the city CA's).
    allowed_hosts: list[str] | None = None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx becomes an HTTPError: a redirect could lead anywhere


class HttpFetcher:
    """``Fetcher`` over ``urllib`` (HTTP/1.1, what CRL and OCSP servers speak)."""

    def __init__(self, settings: FetchSettings | None = None) -> None:
        self.settings = settings or FetchSettings()
        self._opener = urllib.request.build_opener(_NoRedirects())
        self.requests = 0

    def fetch(self, request: FetchRequest) -> bytes:
        s = self.settings
        self._check_target(request.url)
        headers = {"Accept": request.accept, "User-Agent": "CityShield-PKI/1"}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        req = urllib.request.Request(  # noqa: S310 - the scheme was checked above
            request.url, data=request.body, headers=headers, method=request.method
        )
        deadline = time.monotonic() + s.timeout_seconds
        self.requests += 1
        try:
            with self._opener.open(req, timeout=s.timeout_seconds) as response:
                return _read_bounded(response, s.max_bytes, deadline, request.url)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"HTTP status {exc.code}", where=request.url) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchError(f"cannot fetch: {reason}", where=request.url) from None

    def _check_target(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("only http and https URLs are fetched", where=url[:200])
        host = parts.hostname
        allowed = self.settings.allowed_hosts
        if allowed is not None and host not in allowed:
            raise FetchError(f"host {host} is not in pki.fetch.allowed_hosts", where=url[:200])
        try:
            infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            raise FetchError(f"cannot resolve {host}: {exc}", where=url[:200]) from None
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
            if addr.is_link_local or addr.is_unspecified or addr.is_multicast:
                raise FetchError(f"refusing to fetch from {addr}", where=url[:200])


def _read_bounded(response: object, limit: int, deadline: float, url: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    read = response.read  # type: ignore[attr-defined]
    while True:
        if time.monotonic() > deadline:
            raise FetchError("deadline passed while reading", where=url)
        chunk: bytes = read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise FetchError(f"response larger than {limit} bytes", where=url)

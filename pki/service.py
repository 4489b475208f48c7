"""``PkiService``: what the CLI and the HTTP API call, with pydantic requests and the ``Verdict``
as the answer, so that a router is a thin layer. It fills what a request leaves open (profile,
revocation mode, policies) from the purpose's trust store settings.

Calls block (network for revocation and active checks): an async web framework runs them in its
thread pool (FastAPI does for plain ``def`` endpoints).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field

from cityshield.clock import Clock
from cityshield.errors import DecodeError
from pki.checker import ChainChecker, CheckOptions
from pki.encoding import MAX_CHAIN_CERTS, MAX_INPUT_BYTES, load_certificates
from pki.fetch import Fetcher, HttpFetcher
from pki.hostname import HostName
from pki.model import Profile, Purpose, RevocationMode, Verdict
from pki.probe import Handshake, StartTls, fetch_chain
from pki.revocation import RevocationCache
from pki.rfc5280 import PolicyOptions, RevocationInputs
from pki.settings import PkiSettings
from pki.trust import TrustStore


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: Purpose = Purpose.TLS_SERVER
    profile: Profile | None = None  # None: the purpose's trust store settings
    revocation: RevocationMode | None = None
    at: datetime | None = None


class ChainCheckRequest(_Request):
    """A chain to check: PEM text (leaf first), or DER certificates in base64."""

    pem: str | None = Field(default=None, max_length=MAX_INPUT_BYTES)
    der_base64: list[str] = Field(default_factory=list, max_length=MAX_CHAIN_CERTS)
    host: str | None = Field(default=None, max_length=253)


class EndpointCheckRequest(_Request):
    host: HostName = Field(min_length=1, max_length=253)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: HostName | None = Field(default=None, max_length=253)
    starttls: StartTls | None = None


#: How an active check reaches a server: ``fetch_chain`` (the composition root, tests and the
#: benchmark may give another, for example one that refuses to reach the network at all).
Probe = Callable[..., Handshake]


class PkiService:
    def __init__(
        self, checker: ChainChecker, settings: PkiSettings, probe: Probe = fetch_chain
    ) -> None:
        self.checker = checker
        self.settings = settings
        self.probe = probe

    def options(
        self,
        purpose: Purpose,
        *,
        profile: Profile | None = None,
        revocation: RevocationMode | None = None,
        host: str | None = None,
        at: datetime | None = None,
        given: RevocationInputs | None = None,
        extra_anchors: tuple[x509.Certificate, ...] = (),
    ) -> CheckOptions:
        store = self.settings.trust.get(purpose)
        policies = (
            PolicyOptions(required_policies=frozenset(store.required_policies))
            if store and store.required_policies
            else None
        )
        return CheckOptions(
            purpose=purpose,
            profile=profile or (store.profile if store else Profile.WEBPKI),
            host=host,
            at=at,
            revocation=revocation or (store.revocation if store else RevocationMode.SOFT_FAIL),
            given=given or RevocationInputs(),
            policies=policies,
            # A check at a past or future time cannot use today's CRLs and OCSP answers.
            fetch=at is None,
            extra_anchors=extra_anchors,
        )

    def check_certificates(self, certs: list[x509.Certificate], options: CheckOptions) -> Verdict:
        return self.checker.check(certs, options)

    def check_chain(self, request: ChainCheckRequest) -> Verdict:
        """A ``DecodeError`` when the upload holds no readable certificate."""
        certs: list[x509.Certificate] = []
        if request.pem:
            certs += load_certificates(request.pem.encode(), where="pem")
        for i, item in enumerate(request.der_base64):
            try:
                data = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise DecodeError("not base64", where=f"der_base64[{i}]") from None
            certs += load_certificates(data, where=f"der_base64[{i}]")
        if not certs:
            raise DecodeError("no certificate given (pem or der_base64)", where="request")
        options = self.options(
            request.purpose,
            profile=request.profile,
            revocation=request.revocation,
            host=request.host,
            at=request.at,
        )
        return self.checker.check(certs, options)

    def check_endpoint(self, request: EndpointCheckRequest) -> Verdict:
        """Connect, take the chain and OCSP staple, check them; ``ProbeError`` if unreachable."""
        return self.probe_endpoint(request)[1]

    def probe_endpoint(self, request: EndpointCheckRequest) -> tuple[Handshake, Verdict]:
        """The handshake (chain, staple, peer address) and the verdict on its chain."""
        handshake = self.probe(
            request.host,
            request.port,
            server_name=request.server_name,
            starttls=request.starttls,
            timeout=self.settings.probe_timeout_seconds,
        )
        if not handshake.chain:
            raise DecodeError(
                "the server sent no certificate", where=f"{request.host}:{request.port}"
            )
        given = RevocationInputs(
            ocsp_responses=[handshake.stapled_ocsp] if handshake.stapled_ocsp else []
        )
        options = self.options(
            request.purpose,
            profile=request.profile,
            revocation=request.revocation,
            host=request.server_name or request.host,
            at=request.at,
            given=given,
        )
        return handshake, self.checker.check(handshake.chain, options)


def build_service(
    settings: PkiSettings, clock: Clock, fetcher: Fetcher | None = None, probe: Probe = fetch_chain
) -> PkiService:
    """Trust stores loaded from their paths (``ConfigError`` names a bad file), a shared cache."""
    stores = {
        purpose: TrustStore.from_paths(store.paths, name=f"pki.trust.{purpose}")
        for purpose, store in settings.trust.items()
        if store.paths
    }
    cache = RevocationCache(fetcher or HttpFetcher(settings.fetch), clock, settings.cache)
    checker = ChainChecker(
        stores,
        policy={Profile.WEBPKI: settings.webpki_policy, Profile.RFC5280: settings.rfc5280_policy},
        cache=cache,
        clock=clock,
    )
    return PkiService(checker, settings, probe)

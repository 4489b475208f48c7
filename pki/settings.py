"""The ``[pki]`` settings section: trust stores per purpose, each with its profile and revocation
mode, and the fetcher, cache and policy settings.

```toml
[pki.trust.tls_server]
paths = ["/etc/cityshield/trust/national-roots.pem", "/etc/cityshield/trust/city/"]
revocation = "soft-fail"

[pki.trust.document_signing]
paths = ["/etc/cityshield/trust/qualified/"]
profile = "rfc5280"
revocation = "require"
required_policies = ["1.2.3.4.5"]

[pki.registry]                       # the city's registered credentials
path = "/var/lib/cityshield/pki-registry.db"
expiry_days = [30, 14, 7]
ca_certificate = "/etc/cityshield/ca/city-issuing-ca.pem"   # revocation signs CRLs with it
ca_key = "/etc/cityshield/ca/city-issuing-ca.key"
crl_path = "/srv/pki/crl/city-issuing-ca.crl"              # where the new CRL is published
```
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from cityshield.settings import Section
from pki.fetch import FetchSettings
from pki.model import Profile, Purpose, RevocationMode
from pki.policy import PolicySettings
from pki.revocation import RevocationCacheSettings


class TrustStoreSettings(Section):
    #: Bundle files (PEM, DER, PKCS#7) and folders of them.
    paths: list[Path] = Field(default_factory=list)
    profile: Profile = Profile.WEBPKI
    revocation: RevocationMode = RevocationMode.SOFT_FAIL
    #: Certificate policy OIDs the path must carry (``rfc5280`` profile).
    required_policies: list[str] = Field(default_factory=list)


class RegistrySettings(Section):
    """The credential registry (``pki.registry_store``) and what revoking a credential signs."""

    #: The registry's SQLite file (``:memory:`` for a throwaway one).
    path: str = "cityshield-pki.db"
    #: Days before expiry at which a registered certificate alerts, once each.
    expiry_days: list[int] = Field(default_factory=lambda: [30, 14, 7], max_length=10)
    #: The city CA whose key signs the CRL that revoking a registered credential issues.
    ca_certificate: Path | None = None
    ca_key: Path | None = None
    ca_key_password: SecretStr | None = None
    #: Where the new CRL (DER) is written for the CRL distribution point to serve.
    crl_path: Path | None = None
    crl_validity_days: float = Field(default=7.0, gt=0, le=366)
    #: Endpoints probed at once by a scan.
    scan_workers: int = Field(default=8, ge=1, le=64)

    @field_validator("expiry_days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 1 or d > 3650 for d in days):
            raise ValueError("expiry days are between 1 and 3650")
        return sorted(set(days), reverse=True)

    @model_validator(mode="after")
    def _ca_pair(self) -> RegistrySettings:
        if (self.ca_certificate is None) != (self.ca_key is None):
            raise ValueError("ca_certificate and ca_key go together: set both or neither")
        return self


class PkiSettings(Section):
    #: Trust stores by purpose; a purpose without one gets no path validation (only policy).
    trust: dict[Purpose, TrustStoreSettings] = Field(default_factory=dict)
    fetch: FetchSettings = FetchSettings()
    cache: RevocationCacheSettings = RevocationCacheSettings()
    webpki_policy: PolicySettings = PolicySettings()
    rfc5280_policy: PolicySettings = PolicySettings(max_leaf_validity_days=5 * 366)
    #: Timeout of an active check (connect and handshake), seconds.
    probe_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    registry: RegistrySettings = RegistrySettings()

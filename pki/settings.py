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
```
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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


class PkiSettings(Section):
    #: Trust stores by purpose; a purpose without one gets no path validation (only policy).
    trust: dict[Purpose, TrustStoreSettings] = Field(default_factory=dict)
    fetch: FetchSettings = FetchSettings()
    cache: RevocationCacheSettings = RevocationCacheSettings()
    webpki_policy: PolicySettings = PolicySettings()
    rfc5280_policy: PolicySettings = PolicySettings(max_leaf_validity_days=5 * 366)
    #: Timeout of an active check (connect and handshake), seconds.
    probe_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

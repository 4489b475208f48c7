"""Settings of the Elasticsearch store (``[store.elasticsearch]``) and the client built from them.

Production code uses the official client as it is; ``build_client`` takes extra client options only
so that tests can hand it a transport node class for test servers (see the e2e fixtures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from elasticsearch import Elasticsearch
from pydantic import Field, SecretStr, field_validator, model_validator

from cityshield.errors import ConfigError
from cityshield.settings import Section


class ElasticsearchStoreSettings(Section):
    #: One or more node URLs (``https://es1:9200``); the client spreads requests over them.
    hosts: list[str] = Field(default_factory=lambda: ["http://localhost:9200"], min_length=1)
    #: An API key (the base64 ``id:key`` form Kibana shows) or basic auth, not both.
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    #: CA certificate (PEM) that signed the cluster's certificate, for TLS.
    ca_certs: Path | None = None
    verify_certs: bool = True
    #: Index names start with this: ``<prefix>-alerts-2024.05``, ``<prefix>-flows-2024.05.01``.
    index_prefix: str = Field(default="cityshield", pattern=r"^[a-z0-9][a-z0-9_.]{0,40}$")
    #: Days an index is kept after its period ends (ILM delete phase, or pruning by the store).
    alerts_retention_days: int = Field(default=365, ge=1)
    flows_retention_days: int = Field(default=30, ge=1)
    records_retention_days: int = Field(default=30, ge=1)
    #: Where documents wait while the cluster is down, and how much disk they may take.
    spool_dir: Path = Path("cityshield-spool")
    spool_max_mib: int = Field(default=1024, ge=1)
    #: After a failed write, later writes go straight to the spool for this long, instead of each
    #: waiting for timeouts and retries; then the next write tries the cluster (and replays).
    outage_pause_s: float = Field(default=5.0, ge=0)
    #: Documents the cluster rejected (a mapping error), one JSON line each with the reason.
    dead_letter_file: Path = Path("cityshield-dead-letter.jsonl")
    dead_letter_max_mib: int = Field(default=256, ge=1)
    #: Documents per bulk request.
    bulk_chunk: int = Field(default=1000, ge=1, le=50_000)
    #: Seconds per request, and retries (with backoff) on 429, 502, 503, 504 and timeouts.
    request_timeout: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)
    #: ``true`` makes every write visible to searches at once (tests, small sites); ``false``
    #: leaves it to the index refresh interval (fast bulk ingest).
    refresh: Literal["true", "false", "wait_for"] = "false"
    number_of_shards: int = Field(default=1, ge=1)
    number_of_replicas: int = Field(default=1, ge=0)

    @field_validator("hosts")
    @classmethod
    def _urls(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            parts = urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"not an http(s) URL: {host!r}")
        return hosts

    @model_validator(mode="after")
    def _one_kind_of_auth(self) -> ElasticsearchStoreSettings:
        if self.api_key is not None and (self.username or self.password):
            raise ValueError("give api_key or username/password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        return self


def build_client(settings: ElasticsearchStoreSettings, **extra: Any) -> Elasticsearch:
    """The official client for these settings (``extra``: more client options, for tests)."""
    options: dict[str, Any] = {
        "request_timeout": settings.request_timeout,
        "max_retries": settings.max_retries,
        "retry_on_timeout": True,
        # The transport retries these whole requests with backoff; per-document 429s inside a
        # bulk response are retried by the bulk helper (see elasticsearch_bulk).
        "retry_on_status": (429, 502, 503, 504),
        "verify_certs": settings.verify_certs,
    }
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    if settings.username is not None and settings.password is not None:
        options["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.ca_certs is not None:
        if not settings.ca_certs.is_file():
            raise ConfigError("CA certificate file not found", where=str(settings.ca_certs))
        options["ca_certs"] = str(settings.ca_certs)
    try:
        return Elasticsearch(settings.hosts, **{**options, **extra})
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"cannot build the Elasticsearch client: {exc}", where="store") from exc

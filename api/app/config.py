"""``ApiSettings``: the ``[api]`` section of the settings (bind address, TLS, limits, secrets).

Secrets are ``SecretStr`` so they never show in a repr or a log line. As in the
full-stack-fastapi-template, a placeholder secret is refused outside development: a demo password
that reaches production is a breach waiting to happen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator

from cityshield.settings import Section

#: Secrets nobody should deploy: the template's "changethis" and the usual suspects.
PLACEHOLDER_SECRETS = frozenset({"changethis", "changeme", "admin", "password", "secret", ""})
MIB = 1024 * 1024


class ApiSettings(Section):
    #: ``development`` allows placeholder secrets and plain HTTP on any address.
    environment: Literal["development", "production"] = "production"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    #: TLS is on when both are set (PEM files; the key may be encrypted with ``tls_key_password``).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_key_password: SecretStr | None = None
    #: Users, tokens, sensors, cases, suppressions and the audit log (SQLite, or ``:memory:``).
    service_db: str = "cityshield-service.db"
    #: Uvicorn worker processes. Rate limits and the token cache are per process.
    workers: int = Field(default=1, ge=1, le=64)
    #: Lifetime of a login session token; API tokens choose their own, up to the maximum.
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    token_max_days: int = Field(default=365, ge=1, le=3650)
    #: Body size of any request but ingest (bytes on the wire).
    max_request_bytes: int = Field(default=1 * MIB, ge=1024)
    #: Ingest bodies: on the wire (gzip or not), after decompression, and items per batch.
    max_ingest_bytes: int = Field(default=16 * MIB, ge=1024)
    max_ingest_decompressed_bytes: int = Field(default=64 * MIB, ge=1024)
    max_batch_items: int = Field(default=20_000, ge=1)
    #: Ingest batches waiting for the writer; beyond it sensors get 429 and retry from their spool.
    ingest_queue: int = Field(default=8, ge=1)
    #: Failed logins per user name and per client address within the window before 429.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: float = Field(default=300.0, gt=0)
    #: Browser origins allowed to call the API; empty (the default) turns CORS off.
    cors_origins: list[str] = Field(default_factory=list)
    #: Let Prometheus scrape ``/metrics`` without a token (it carries no alert data).
    metrics_public: bool = False
    #: How often sensors are expected to send heartbeats; the fleet view's health follows from it.
    heartbeat_seconds: float = Field(default=60.0, gt=0)
    #: ``cityshield serve`` creates this admin when there are no users yet (container start-up).
    bootstrap_admin: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    #: argon2id cost (RFC 9106); the defaults are argon2-cffi's, its "low memory" profile.
    argon2_time_cost: int = Field(default=3, ge=1, le=10)
    argon2_memory_kib: int = Field(default=65536, ge=8192, le=1048576)
    argon2_parallelism: int = Field(default=4, ge=1, le=16)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        if self.environment != "development":
            for name in ("bootstrap_admin_password", "tls_key_password"):
                secret: SecretStr | None = getattr(self, name)
                if secret is not None and _placeholder(secret.get_secret_value()):
                    raise ValueError(
                        f"{name} is a placeholder; set a real secret (allowed only with "
                        "environment = 'development')"
                    )
        if self.bootstrap_admin_password is not None and self.bootstrap_admin is None:
            raise ValueError("bootstrap_admin_password needs bootstrap_admin (the user name)")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _placeholder(value: str) -> bool:
    return value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 12

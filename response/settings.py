"""``[response]``: where playbooks and runs are kept, and what the actions may touch.

Secrets (SMTP password, webhook keys) live here as ``SecretStr``, never in playbooks: a playbook
names a webhook target, the settings hold its URL and key.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from cityshield.settings import Section


class FirewallSettings(Section):
    nft: str = "nft"
    #: Run ``nft`` inside this network namespace (``ip netns exec``); None: the host's.
    netns: str | None = None
    table: str = Field("cityshield", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    #: Networks never blocked whatever a playbook says: the city's gateways, portals, resolvers.
    never_block: list[str] = Field(default_factory=list, max_length=1000)
    default_expiry_seconds: int = Field(86400, ge=1, le=365 * 86400)
    max_expiry_seconds: int = Field(30 * 86400, ge=1, le=365 * 86400)


class RpzSettings(Section):
    """The response-policy zone a resolver loads (BIND ``response-policy``, Unbound ``rpz:``)."""

    zone_file: Path = Path("rpz.cityshield.zone")
    origin: str = "rpz.cityshield."
    #: Run after the file changed (``["rndc", "reload", "rpz.cityshield"]``); none by default.
    reload_command: list[str] = Field(default_factory=list, max_length=20)
    max_entries: int = Field(100_000, ge=1)


class SmtpSettings(Section):
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    sender: str = "cityshield@localhost"
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None


class WebhookTarget(Section):
    url: str = Field(pattern=r"^https?://")
    #: HMAC-SHA256 key for ``X-CityShield-Signature``.
    secret: SecretStr


class HttpSettings(Section):
    #: Host names ``http.request`` may call (exact, case-insensitive); nothing else.
    allowed_hosts: list[str] = Field(default_factory=list, max_length=200)
    max_response_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)


class ResponseSettings(Section):
    #: Playbook folder; None: the repository's ``playbooks/``.
    playbooks_dir: Path | None = None
    #: The run database (SQLite, WAL): runs, steps, approvals, decisions.
    db: str = "response.db"
    #: Actions this service must not run (a step using one fails, saying so): e.g. the firewall
    #: on a machine without nftables.
    disabled_actions: list[str] = Field(default_factory=list, max_length=100)
    #: Start runs when a new alert matches a playbook's trigger.
    auto_start: bool = True
    #: Seconds between the engine's looks for runs to advance (decisions, expiries).
    poll_seconds: float = Field(1.0, gt=0, le=60)
    #: Most runs queued by triggers and not yet started; more are dropped and counted.
    max_queued_triggers: int = Field(1000, ge=1)
    #: Evidence bundles (``evidence.collect``), one folder per run and step.
    evidence_dir: Path = Path("response-evidence")
    evidence_max_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    firewall: FirewallSettings = FirewallSettings()
    dns: RpzSettings = RpzSettings()
    smtp: SmtpSettings = SmtpSettings()
    webhooks: dict[str, WebhookTarget] = Field(default_factory=dict)
    http: HttpSettings = HttpSettings()

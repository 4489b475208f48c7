"""``firewall.block_ip`` / ``firewall.unblock_ip``: elements with a timeout in an nftables set.

The table (one IPv4 and one IPv6 set, dropped on input and forward) is made on first use. An
address on the never-block list (the city's gateways and portals), and unspecified, loopback or
multicast addresses, are refused before ``nft`` runs. Adding an element that is there already is
harmless in nftables (``add``, not ``create``), so both actions are idempotent.
"""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any

from pydantic import Field, IPvAnyAddress, field_validator

from cityshield.errors import ActionError
from response.actions.base import Action, ActionContext, ActionParams, Result
from response.schema import seconds
from response.settings import FirewallSettings


class BlockIpParams(ActionParams):
    ip: IPvAnyAddress
    #: How long the block holds (seconds or 15m/12h/7d); default from the settings.
    expires: int | None = Field(None, ge=1)
    comment: str = Field("", max_length=200)

    @field_validator("expires", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int | None:
        return None if value is None else seconds(value)


class UnblockIpParams(ActionParams):
    ip: IPvAnyAddress


class Nftables:
    """Runs ``nft`` (inside a network namespace when configured)."""

    def __init__(self, settings: FirewallSettings) -> None:
        self.settings = settings
        self.never = [ipaddress.ip_network(n, strict=False) for n in settings.never_block]

    def run(self, args: list[str], timeout: float, stdin: str | None = None) -> str:
        prefix = ["ip", "netns", "exec", self.settings.netns] if self.settings.netns else []
        try:
            done = subprocess.run(
                [*prefix, self.settings.nft, *args],
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except FileNotFoundError:
            raise ActionError(f"{self.settings.nft!r} not found (install nftables)") from None
        except subprocess.TimeoutExpired:
            raise ActionError(f"nft {' '.join(args[:3])} took longer than {timeout}s") from None
        if done.returncode != 0:
            raise ActionError(f"nft {' '.join(args)}: {done.stderr.strip()[:500]}")
        return done.stdout

    def ensure_table(self, timeout: float) -> None:
        table = self.settings.table
        try:
            self.run(["list", "table", "inet", table], timeout)
            return
        except ActionError:
            pass
        self.run(["-f", "-"], timeout, stdin=_TABLE.format(table=table))

    def check(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if ip.is_unspecified or ip.is_loopback or ip.is_multicast:
            raise ActionError(f"{ip} is not an address that can be blocked")
        for net in self.never:
            if ip.version == net.version and ip in net:
                raise ActionError(f"{ip} is on the never-block list ({net})")

    def set_for(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        return "blocked4" if ip.version == 4 else "blocked6"


class BlockIpAction(Action):
    id = "firewall.block_ip"
    Params = BlockIpParams
    idempotent = True
    summary = "Drop traffic from an address at the city firewall (nftables set), until it expires"

    def __init__(self, nft: Nftables) -> None:
        self.nft = nft

    def _expiry(self, params: BlockIpParams) -> int:
        s = self.nft.settings
        return min(params.expires or s.default_expiry_seconds, s.max_expiry_seconds)

    def plan(self, params: BlockIpParams) -> str:
        self.nft.check(params.ip)
        table, expiry = self.nft.settings.table, self._expiry(params)
        return f"block {params.ip} in nftables set inet {table} for {expiry}s"

    def run(self, params: BlockIpParams, ctx: ActionContext) -> Result:
        self.nft.check(params.ip)
        self.nft.ensure_table(ctx.timeout)
        expiry = self._expiry(params)
        name = self.nft.set_for(params.ip)
        table = self.nft.settings.table
        self.nft.run(
            ["add", "element", "inet", table, name, f"{{ {params.ip} timeout {expiry}s }}"],
            ctx.timeout,
        )
        until = ctx.clock.now().timestamp() + expiry
        return {
            "ip": str(params.ip),
            "set": f"inet {table} {name}",
            "expires_in": expiry,
            "expires_at": int(until),
        }


class UnblockIpAction(Action):
    id = "firewall.unblock_ip"
    Params = UnblockIpParams
    idempotent = True
    summary = "Remove an address from the city firewall's block sets"

    def __init__(self, nft: Nftables) -> None:
        self.nft = nft

    def plan(self, params: UnblockIpParams) -> str:
        return f"unblock {params.ip} in nftables set inet {self.nft.settings.table}"

    def run(self, params: UnblockIpParams, ctx: ActionContext) -> Result:
        self.nft.ensure_table(ctx.timeout)
        table, name = self.nft.settings.table, self.nft.set_for(params.ip)
        try:
            self.nft.run(
                ["delete", "element", "inet", table, name, f"{{ {params.ip} }}"], ctx.timeout
            )
        except ActionError as exc:
            if "No such file or directory" not in exc.message:
                raise
            return {"ip": str(params.ip), "removed": False}  # not blocked: nothing to do
        return {"ip": str(params.ip), "removed": True}


_TABLE = """
table inet {table} {{
    set blocked4 {{ type ipv4_addr; flags timeout; }}
    set blocked6 {{ type ipv6_addr; flags timeout; }}
    chain input {{
        type filter hook input priority -10; policy accept;
        ip saddr @blocked4 drop
        ip6 saddr @blocked6 drop
    }}
    chain forward {{
        type filter hook forward priority -10; policy accept;
        ip saddr @blocked4 drop
        ip6 saddr @blocked6 drop
    }}
}}
"""

"""``dns.sinkhole_domain``: a name (and its subdomains) answered NXDOMAIN by the resolver, through
a response-policy zone file (RPZ, draft-vixie-dnsop-dns-rpz: ``name CNAME .`` is NXDOMAIN).

The file is read back with dnspython's zone parser, rewritten whole to a temporary file, parsed
again (a resolver must never be handed a zone it cannot load) and renamed over the old one.
Sinkholing a name twice changes nothing: idempotent.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.zone
from pydantic import Field, field_validator

from cityshield.errors import ActionError
from response.actions.base import Action, ActionContext, ActionParams, Result
from response.settings import RpzSettings


class SinkholeParams(ActionParams):
    domain: str = Field(min_length=1, max_length=253)
    comment: str = Field("", max_length=200)

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str) -> str:
        value = value.strip().rstrip(".").lower()
        try:
            name = dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"not a domain name: {exc}") from None
        labels = value.split(".")
        if len(labels) < 2 or not all(
            lab and all(c.isalnum() or c in "-_" for c in lab) for lab in labels
        ):
            raise ValueError(f"{value!r} is not a domain like portal-login.example")
        return name.to_text(omit_final_dot=True)


class SinkholeDomainAction(Action):
    id = "dns.sinkhole_domain"
    Params = SinkholeParams
    idempotent = True
    summary = "Answer NXDOMAIN for a domain and its subdomains (response-policy zone)"

    def __init__(self, settings: RpzSettings) -> None:
        self.settings = settings

    def plan(self, params: SinkholeParams) -> str:
        return f"add {params.domain} and *.{params.domain} to {self.settings.zone_file}"

    def names(self) -> set[str]:
        """The names sinkholed now (relative to the origin)."""
        path = self.settings.zone_file
        if not path.exists():
            return set()
        zone = _parse(path.read_text(encoding="utf-8"), self.settings.origin, str(path))
        return {
            name.to_text()
            for name, node in zone.nodes.items()
            if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) is not None
        }

    def run(self, params: SinkholeParams, ctx: ActionContext) -> Result:
        names = self.names()
        added = params.domain not in names
        names |= {params.domain, f"*.{params.domain}"}
        if len(names) > self.settings.max_entries:
            raise ActionError(f"the zone would hold more than {self.settings.max_entries} names")
        serial = int(ctx.clock.now().timestamp())
        text = _zone_text(sorted(names), serial)
        _parse(text, self.settings.origin, "the new zone")  # never install what cannot load
        _write_atomically(self.settings.zone_file, text)
        if self.settings.reload_command:
            done = subprocess.run(
                self.settings.reload_command,
                capture_output=True,
                text=True,
                timeout=ctx.timeout,
                check=False,
            )
            if done.returncode != 0:
                raise ActionError(f"reload failed: {done.stderr.strip()[:300]}")
        return {
            "domain": params.domain,
            "added": added,
            "zone_file": str(self.settings.zone_file),
            "serial": serial,
            "names": len(names),
        }


def _zone_text(names: list[str], serial: int) -> str:
    lines = [
        "; written by CityShield (dns.sinkhole_domain); changes by hand are kept only as names",
        "$TTL 300",
        f"@ IN SOA localhost. hostmaster.localhost. ({serial} 3600 600 86400 300)",
        "@ IN NS localhost.",
    ]
    lines += [f"{name} IN CNAME ." for name in names]
    return "\n".join(lines) + "\n"


def _parse(text: str, origin: str, where: str) -> dns.zone.Zone:
    try:
        return dns.zone.from_text(text, origin=origin, relativize=True, check_origin=True)
    except (dns.exception.DNSException, ValueError) as exc:
        raise ActionError(f"not a loadable zone: {exc}", where=where) from None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

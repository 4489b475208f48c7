"""``SuppressionRule``: does a suppression hold an alert back? Sans-io: the filter, the preview
and the tests all use this one function."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime

from alerts.model import Alert, Endpoint

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SuppressionRule:
    id: str
    kind: str
    rule_id: str | None
    source: IpNetwork | None
    destination: IpNetwork | None
    min_count: int | None
    expires_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def in_scope(self, alert: Alert) -> bool:
        return (
            (self.rule_id is None or alert.rule.id == self.rule_id)
            and _within(alert.source, self.source)
            and _within(alert.destination, self.destination)
        )

    def holds_back(self, alert: Alert) -> bool:
        if not self.in_scope(alert):
            return False
        return self.kind == "suppress" or alert.count < (self.min_count or 0)


def _within(endpoint: Endpoint | None, network: IpNetwork | None) -> bool:
    if network is None:
        return True
    if endpoint is None:
        return False
    return ipaddress.ip_address(endpoint.ip) in network

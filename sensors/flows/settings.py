"""Flow table settings: size bound and timeouts (defaults follow Zeek's, so our flows line up)."""

from __future__ import annotations

from pydantic import Field

from cityshield.settings import Section

#: Ports on which a packet's sender is more likely the server than the client: when a connection's
#: first packet comes *from* one of these (and not to one), the roles are flipped, as Zeek does
#: with its analyzers' registered ports (``likely_server_ports``).
DEFAULT_SERVER_PORTS = (
    20, 21, 22, 23, 25, 53, 67, 69, 80, 88, 110, 111, 119, 123, 135, 137, 138, 139, 143, 161,
    162, 179, 389, 443, 445, 465, 500, 502, 514, 515, 554, 587, 631, 636, 853, 873, 993, 995,
    1080, 1194, 1433, 1521, 1701, 1723, 1812, 1813, 1883, 2049, 2152, 3128, 3268, 3306, 3389,
    3544, 4500, 4789, 5060, 5061, 5072, 5222, 5353, 5355, 5432, 5900, 6081, 6379, 6443, 6667,
    8000, 8080, 8443, 8883, 9200, 11211, 27017,
)  # fmt: skip


class FlowSettings(Section):
    max_flows: int = Field(1_000_000, ge=16, description="flows held at once; oldest evicted")
    tcp_idle_timeout: float = Field(300.0, gt=0, description="Zeek's tcp_inactivity_timeout")
    udp_idle_timeout: float = Field(60.0, gt=0, description="Zeek's udp_inactivity_timeout")
    icmp_idle_timeout: float = Field(60.0, gt=0, description="Zeek's icmp_inactivity_timeout")
    other_idle_timeout: float = Field(60.0, gt=0)
    tcp_close_delay: float = Field(5.0, ge=0, description="wait after FIN/RST, Zeek's default")
    tcp_attempt_delay: float = Field(
        5.0, gt=0, description="Zeek's tcp_attempt_delay: an unanswered SYN's connection ends"
    )
    #: Connections found per TCP key and batch before the rest of its packets stay in one; only
    #: a flood of reused ports reaches it (counted in ``FlowStats.tcp_budget_exceeded``).
    max_tcp_rounds: int = Field(32, ge=1, le=100_000)
    active_timeout: float = Field(
        1800.0, ge=0, description="end and restart flows older than this (0: never)"
    )
    likely_server_ports: tuple[int, ...] = DEFAULT_SERVER_PORTS
    #: Shorter idle timeouts for UDP services with short exchanges: DNS answers come within
    #: seconds, so Zeek ends DNS "connections" after 10 s (``dns_session_timeout``).
    udp_port_idle_timeouts: dict[int, float] = Field(default_factory=lambda: {53: 10.0})

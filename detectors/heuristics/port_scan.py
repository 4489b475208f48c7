"""Port scans: one source probing many ports of one host (vertical), one port on many hosts
(horizontal), or pinging many hosts (a ping sweep, horizontal over ICMP echo).

A probe is a flow that carried no payload either way (TCP SYN scans, connect scans, RSTs from
closed ports), a UDP datagram nobody answered, or an ICMP echo request. Ordinary clients talk
to few ports on few hosts; counting distinct targets of probes per source within a window is
what Zeek's scan policy and Suricata's threshold rules do, and it costs one set per source.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from alerts.model import Alert, Endpoint, RuleRef, Severity
from detectors.base import Detector, DetectorConfig
from detectors.heuristics.common import Allowlist, BoundedState, Tally, check_cidrs, ns_time
from sensors.flows import FlowBatch

VERTICAL = RuleRef(
    id="port_scan.vertical",
    name="Vertical port scan",
    version="1",
    description="One source probed many ports of one host.",
    category="reconnaissance",
)
HORIZONTAL = RuleRef(
    id="port_scan.horizontal",
    name="Horizontal port scan",
    version="1",
    description="One source probed one port (or pinged) across many hosts.",
    category="reconnaissance",
)
#: ATT&CK: Network Service Discovery; Active Scanning: Scanning IP Blocks.
TECHNIQUES_VERTICAL: tuple[str, ...] = ("T1046",)
TECHNIQUES_HORIZONTAL: tuple[str, ...] = ("T1046", "T1595.001")
MAX_SET = 65_536  # distinct targets remembered per source and target; more are counted, not kept


class PortScanConfig(DetectorConfig):
    window_seconds: float = Field(300.0, gt=0, description="probes counted together")
    vertical_min_ports: int = Field(20, ge=2, description="distinct ports on one host")
    horizontal_min_hosts: int = Field(20, ge=2, description="distinct hosts on one port")
    max_probe_packets: int = Field(6, ge=1, description="a TCP probe sends at most this many")
    vertical_severity: Severity = Severity.MEDIUM
    horizontal_severity: Severity = Severity.MEDIUM
    ignore_sources: list[str] = Field(default_factory=list, description="CIDRs never reported")
    max_sources: int = Field(100_000, ge=16, description="sources tracked at once")

    _cidrs = field_validator("ignore_sources")(classmethod(lambda cls, v: check_cidrs(v)))


@dataclass(slots=True)
class _Source:
    window_start: int
    by_host: dict[str, set[str]] = field(default_factory=dict)  # host -> ports probed
    by_port: dict[str, set[str]] = field(default_factory=dict)  # port -> hosts probed
    vertical: dict[str, Tally] = field(default_factory=dict)
    horizontal: dict[str, Tally] = field(default_factory=dict)


class PortScanDetector(Detector[PortScanConfig]):
    id = "port_scan"
    version = "1"
    description = "Vertical and horizontal port scans and ping sweeps, from flows."
    config_model = PortScanConfig

    def __init__(self, config: PortScanConfig, *, observer: str) -> None:
        super().__init__(config, observer=observer)
        self._sources: BoundedState[str, _Source] = BoundedState(
            config.max_sources, lambda: _Source(window_start=0)
        )
        self._ignore = Allowlist(config.ignore_sources)
        self._window_ns = int(config.window_seconds * 1e9)

    def stats(self) -> dict[str, int]:
        return {"sources": len(self._sources), "sources_evicted": self._sources.evicted}

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        probes = self._probes(flows)
        if not len(probes):
            return []
        touched: dict[str, _Source] = {}
        for src, dst, port, start, end, fid, cid, frame, cap in _rows(probes):
            if src in self._ignore:
                continue
            state = self._sources.get(src)
            if state.window_start == 0 or start - state.window_start > self._window_ns:
                for table in (state.by_host, state.by_port, state.vertical, state.horizontal):
                    table.clear()
                state.window_start = start
            ports = state.by_host.setdefault(dst, set())
            hosts = state.by_port.setdefault(port, set())
            if len(ports) < MAX_SET:
                ports.add(port)
            if len(hosts) < MAX_SET:
                hosts.add(dst)
            state.vertical.setdefault(dst, Tally()).add(start, end, fid, cid, frame, cap)
            state.horizontal.setdefault(port, Tally()).add(start, end, fid, cid, frame, cap)
            touched[src] = state
        return [alert for src, state in touched.items() for alert in self._alerts(src, state)]

    def _probes(self, flows: FlowBatch) -> FlowBatch:
        c = flows.cols
        proto, pay, pkts = c["proto"], c["payload"], c["pkts"]
        no_payload = (pay[:, 0] == 0) & (pay[:, 1] == 0)
        tcp = (proto == 6) & no_payload & (pkts[:, 0] <= self.config.max_probe_packets)
        udp = (proto == 17) & (pkts[:, 1] == 0)
        oport = flows.orig_port
        echo = ((proto == 1) & (oport == 8)) | ((proto == 58) & (oport == 128))
        return flows.take(np.flatnonzero(tcp | udp | echo))

    def _alerts(self, src: str, state: _Source) -> Iterator[Alert]:
        cfg = self.config
        for dst, tally in state.vertical.items():
            ports = state.by_host[dst]
            if len(ports) >= cfg.vertical_min_ports and (new := tally.take_new()):
                yield self._alert(VERTICAL, src, tally, new, dst=dst, targets=ports, what="ports")
        for port, tally in state.horizontal.items():
            hosts = state.by_port[port]
            if len(hosts) >= cfg.horizontal_min_hosts and (new := tally.take_new()):
                yield self._alert(
                    HORIZONTAL, src, tally, new, port=port, targets=hosts, what="hosts"
                )

    def _alert(
        self, rule: RuleRef, src: str, tally: Tally, new: int, *, targets: set[str], what: str,
        dst: str | None = None, port: str | None = None,
    ) -> Alert:  # fmt: skip
        cfg = self.config
        first_report = new == tally.count
        window = int(cfg.window_seconds)
        data: dict[str, Any] = {
            f"distinct_{what}": len(targets),
            f"{what}_sample": sorted(targets, key=_natural)[:25],
            "probes": tally.count,
            "window_seconds": window,
        }
        if dst is not None:
            message = f"{src} probed {len(targets)} ports of {dst} within {window} s"
            fields = ["source.ip", "destination.ip"]
            severity, techniques = cfg.vertical_severity, TECHNIQUES_VERTICAL
        else:
            data["service"] = port
            message = f"{src} probed {port} on {len(targets)} hosts within {window} s"
            fields = ["source.ip", "cityshield.alert.data.service"]
            severity, techniques = cfg.horizontal_severity, TECHNIQUES_HORIZONTAL
        return Alert.raised(
            rule=rule,
            severity=severity,
            message=message,
            observer=self.observer,
            first_seen=ns_time(tally.first_ns),
            last_seen=ns_time(tally.last_ns),
            source=Endpoint(ip=src, port=None),
            destination=Endpoint(ip=dst, port=None) if dst else None,
            transport=port.split("/")[0] if port else None,
            techniques=techniques,
            count=new,
            aggregation_fields=fields,
            evidence=tally.evidence() if first_report else None,
            data=data,
        )


def _natural(target: str) -> tuple[int, str]:
    """Sort "tcp/22" before "tcp/1024" and addresses as text."""
    tail = target.rsplit("/", 1)[-1]
    return (int(tail), target) if tail.isdigit() else (0, target)


def _rows(
    probes: FlowBatch,
) -> Iterator[tuple[str, str, str, int, int, str, str, int, str]]:
    """(source, destination, "proto/port", start, end, flow id, community id, frame, capture)."""
    c = probes.cols
    proto = c["proto"].tolist()
    rport = probes.resp_port.tolist()
    names = {6: "tcp", 17: "udp", 132: "sctp"}
    services = [
        f"{names[p]}/{r}" if p in names else ("icmp/echo" if p in (1, 58) else f"ip/{p}")
        for p, r in zip(proto, rport, strict=True)
    ]
    captures = [probes.captures[i] for i in c["capture"].tolist()]
    yield from zip(
        probes.orig_ips(),
        probes.resp_ips(),
        services,
        c["start_ns"].tolist(),
        c["last_ns"].tolist(),
        probes.flow_ids(),
        probes.community_ids(),
        c["first_frame"].tolist(),
        captures,
        strict=True,
    )

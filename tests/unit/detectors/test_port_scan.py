from __future__ import annotations

from collections.abc import Callable

from scapy.packet import Packet

from alerts.model import Severity
from detectors.heuristics.port_scan import PortScanConfig, PortScanDetector
from sensors.flows import FlowBatch
from tests.unit.detectors.conftest import T0, echo, session, syn_probe

Flows = Callable[[list[Packet]], FlowBatch]
SCANNER, TARGET = "192.0.2.66", "198.51.100.10"


def detector(**config: object) -> PortScanDetector:
    return PortScanDetector(PortScanConfig.model_validate(config), observer="tap-1")


def vertical(ports: range, *, answer: str = "rst", gap: float = 0.01) -> list[Packet]:
    pkts: list[Packet] = []
    for i, port in enumerate(ports):
        pkts += syn_probe(SCANNER, TARGET, 40000, port, T0 + i * gap, answer=answer)
    return pkts


def test_vertical_scan_is_one_alert_with_every_probe_counted(flows_of: Flows) -> None:
    flows = flows_of(vertical(range(1, 41)))
    alerts = detector().on_flow_ended(flows)
    assert [a.rule.id for a in alerts] == ["port_scan.vertical"]
    a = alerts[0]
    assert (a.source and a.source.ip, a.destination and a.destination.ip) == (SCANNER, TARGET)
    assert a.count == 40
    assert a.data["distinct_ports"] == 40
    assert a.data["ports_sample"][:3] == ["tcp/1", "tcp/2", "tcp/3"]
    assert a.techniques == ["T1046"]
    assert a.severity is Severity.MEDIUM
    assert len(a.evidence.flow_ids) == 40
    assert a.evidence.frames[0] == 1
    assert a.first_seen.timestamp() == T0


def test_open_ports_answered_with_syn_ack_are_probes_too(flows_of: Flows) -> None:
    alerts = detector().on_flow_ended(flows_of(vertical(range(1, 31), answer="synack")))
    assert [(a.rule.id, a.count) for a in alerts] == [("port_scan.vertical", 30)]


def test_below_the_threshold_no_alert(flows_of: Flows) -> None:
    assert detector(vertical_min_ports=20).on_flow_ended(flows_of(vertical(range(1, 20)))) == []


def test_probes_spread_beyond_the_window_do_not_add_up(flows_of: Flows) -> None:
    flows = flows_of(vertical(range(1, 31), gap=20.0))
    assert detector(window_seconds=300).on_flow_ended(flows) == []
    assert len(detector(window_seconds=3600).on_flow_ended(flows)) == 1


def test_later_batches_report_only_new_probes(flows_of: Flows) -> None:
    d = detector()
    first = d.on_flow_ended(flows_of(vertical(range(1, 26))))
    second = d.on_flow_ended(flows_of(vertical(range(26, 31))))
    assert [a.count for a in first] == [25]
    assert [a.count for a in second] == [5]
    assert second[0].id == first[0].id  # the same alert: aggregation folds them


def test_horizontal_scan_of_one_port(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(1, 26):
        pkts += syn_probe("192.0.2.77", f"198.51.100.{i}", 50000, 3389, T0 + i, answer="none")
    alerts = detector().on_flow_ended(flows_of(pkts))
    assert [a.rule.id for a in alerts] == ["port_scan.horizontal"]
    assert alerts[0].data["service"] == "tcp/3389"
    assert alerts[0].data["distinct_hosts"] == 25
    assert alerts[0].destination is None
    assert "T1595.001" in alerts[0].techniques


def test_ping_sweep(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(1, 31):
        pkts += echo("192.0.2.88", f"10.1.1.{i}", T0 + i * 0.1, reply=i % 2 == 0)
    alerts = detector().on_flow_ended(flows_of(pkts))
    assert [(a.rule.id, a.data["service"], a.count) for a in alerts] == [
        ("port_scan.horizontal", "icmp/echo", 30)
    ]


def test_ignored_sources_are_never_reported(flows_of: Flows) -> None:
    flows = flows_of(vertical(range(1, 41)))
    assert detector(ignore_sources=["192.0.2.0/24"]).on_flow_ended(flows) == []


def test_ordinary_web_sessions_are_not_probes(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(60):
        pkts += session("203.0.113.5", TARGET, 30000 + i, 80 + i, T0 + i, client=b"GET /",
                        server=b"HTTP/1.1 200 OK")  # fmt: skip
    assert detector().on_flow_ended(flows_of(pkts)) == []


def test_tracked_sources_are_bounded(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(40):
        pkts += syn_probe(f"10.9.{i}.1", TARGET, 40000, 22, T0 + i, answer="rst")
    d = detector(max_sources=16)
    d.on_flow_ended(flows_of(pkts))
    assert d.stats() == {"sources": 16, "sources_evicted": 24}

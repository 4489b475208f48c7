from __future__ import annotations

from collections.abc import Callable

from scapy.packet import Packet

from alerts.model import Severity
from detectors.heuristics.brute_force import BruteForceConfig, BruteForceDetector
from sensors.flows import FlowBatch
from tests.unit.detectors.conftest import T0, session

Flows = Callable[[list[Packet]], FlowBatch]
ATTACKER, BASTION = "203.0.113.200", "198.51.100.22"
BANNER = b"SSH-2.0-OpenSSH_9.6\r\n" + bytes(600)


def detector(**config: object) -> BruteForceDetector:
    return BruteForceDetector(BruteForceConfig.model_validate(config), observer="tap-1")


def attempts(n: int, *, dst: str = BASTION, port: int = 22, gap: float = 5.0,
             duration: float = 3.0, client: bytes = b"x" * 900) -> list[Packet]:  # fmt: skip
    pkts: list[Packet] = []
    for i in range(n):
        pkts += session(ATTACKER, dst, 41000 + i, port, T0 + i * gap, client=client,
                        server=BANNER, duration=duration)  # fmt: skip
    return pkts


def test_ssh_guessing_is_one_alert_counting_every_session(flows_of: Flows) -> None:
    alerts = detector().on_flow_ended(flows_of(attempts(40)))
    assert [a.rule.id for a in alerts] == ["brute_force.ssh"]
    a = alerts[0]
    assert a.count == 40
    assert (a.source and a.source.ip) == ATTACKER
    assert (a.destination and (a.destination.ip, a.destination.port)) == (BASTION, 22)
    assert a.techniques == ["T1110.001"]
    assert a.severity is Severity.HIGH
    assert a.data["sessions"] == 40


def test_few_sessions_are_not_guessing(flows_of: Flows) -> None:
    assert detector().on_flow_ended(flows_of(attempts(14))) == []


def test_long_interactive_sessions_are_not_attempts(flows_of: Flows) -> None:
    assert detector().on_flow_ended(flows_of(attempts(40, duration=120.0, gap=130.0))) == []


def test_sessions_with_much_client_data_are_not_attempts(flows_of: Flows) -> None:
    assert detector().on_flow_ended(flows_of(attempts(40, client=b"y" * 20_000))) == []


def test_rdp_uses_its_own_service_thresholds(flows_of: Flows) -> None:
    alerts = detector().on_flow_ended(flows_of(attempts(20, port=3389)))
    assert [(a.rule.id, a.count) for a in alerts] == [("brute_force.rdp", 20)]


def test_password_spraying_across_hosts(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(12):
        pkts += session(ATTACKER, f"198.51.100.{100 + i}", 42000 + i, 22, T0 + i, client=b"x",
                        server=BANNER)  # fmt: skip
    alerts = detector().on_flow_ended(flows_of(pkts))
    assert [(a.rule.id, a.data["hosts"]) for a in alerts] == [("brute_force.spray.ssh", 12)]
    assert alerts[0].techniques == ["T1110.003"]


def test_web_sessions_to_many_hosts_are_not_spraying(flows_of: Flows) -> None:
    pkts: list[Packet] = []
    for i in range(30):
        pkts += session("10.0.0.5", f"198.51.100.{i + 1}", 42000 + i, 443, T0 + i, client=b"x",
                        server=b"y")  # fmt: skip
    assert detector().on_flow_ended(flows_of(pkts)) == []


def test_thresholds_are_configurable_per_service(flows_of: Flows) -> None:
    services = {"ssh": {"label": "SSH", "ports": [22], "min_sessions": 5}}
    alerts = detector(services=services).on_flow_ended(flows_of(attempts(6)))
    assert [(a.rule.id, a.count) for a in alerts] == [("brute_force.ssh", 6)]


def test_ssh_banners_name_the_guessing_tool(flows_of: Flows) -> None:
    from sensors.events import FlowRef, SshSeen

    flows = flows_of(attempts(20))
    d = detector()
    banners = [
        SshSeen(FlowRef(fid, "1:x", "tcp", ATTACKER, 1, BASTION, 22, 0, 0, "t"), 0,
                "SSH-2.0-libssh_0.9.6", "SSH-2.0-OpenSSH_9.6")
        for fid in flows.flow_ids()
    ]  # fmt: skip
    d.on_ssh_seen(banners)
    (alert,) = d.on_flow_ended(flows)
    assert alert.data["client_software"] == {"SSH-2.0-libssh_0.9.6": 20}

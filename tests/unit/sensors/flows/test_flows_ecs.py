"""Ended flows as ECS documents and ``FlowEnded`` rows: field names and values of one known flow."""

from __future__ import annotations

import communityid
import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from sensorkit import FlowRun, ns, run_flows

from cityshield.ids import record_id
from sensors.flows.ecs import FLOW_SCHEMA_VERSION, flow_documents, iso

C, S = "192.168.1.10", "93.184.216.34"
T0 = 1_700_000_000.0


def _pkt(src: str, sport: int, dst: str, dport: int, flags: str, data: bytes = b"") -> bytes:
    return bytes(Ether() / Dot1Q(vlan=42, type=0x0800) / IP(src=src, dst=dst)
                 / TCP(sport=sport, dport=dport, flags=flags) / data)  # fmt: skip


def _known_flow() -> FlowRun:
    """An HTTPS connection on VLAN 42: handshake, a request, a response, FINs both ways."""
    c = lambda flags, data=b"": _pkt(C, 51000, S, 443, flags, data)  # noqa: E731
    s = lambda flags, data=b"": _pkt(S, 443, C, 51000, flags, data)  # noqa: E731
    packets = [c("S"), s("SA"), c("A"), c("PA", b"x" * 100), s("PA", b"y" * 200), c("FA"),
               s("FA"), c("A")]  # fmt: skip
    offsets = [0.0, 0.05, 0.1, 0.2, 0.35, 1.0, 1.1, 1.2]
    return run_flows(packets, [T0 + o for o in offsets], linktype=1)


def test_ecs_document_of_a_known_flow() -> None:
    run = _known_flow()
    (doc,) = flow_documents(run.batch)
    cid = communityid.CommunityID().calc(communityid.FlowTuple.make_tcp(C, S, 51000, 443))
    start = ns(T0)
    assert cid == "1:s43u5bTV+aexfs3jmdqig3d1r48="
    assert doc["@timestamp"] == "2023-11-14T22:13:20.000000Z"
    assert doc["event"] == {
        "id": record_id("test-sensor", cid, start, 42),
        "kind": "event",
        "category": ["network"],
        "type": ["connection", "end"],
        "start": "2023-11-14T22:13:20.000000Z",
        "end": "2023-11-14T22:13:21.200000Z",
        "duration": 1_200_000_000,  # ECS: nanoseconds
        "dataset": "cityshield.flow",
    }
    assert doc["network"] == {
        "transport": "tcp",
        "iana_number": "6",
        "type": "ipv4",
        "community_id": cid,
        "bytes": 620,
        "packets": 8,
        "vlan": {"id": "42"},
    }
    assert doc["source"] == {"ip": C, "port": 51000, "bytes": 300, "packets": 5}
    assert doc["destination"] == {"ip": S, "port": 443, "bytes": 320, "packets": 3}
    assert doc["observer"] == {"name": "test-sensor"}
    assert doc["log"] == {"file": {"path": "test.pcap"}}
    flow = doc["cityshield"]["flow"]
    assert {k: v for k, v in flow.items() if k not in ("orig", "resp")} == {
        "schema_version": FLOW_SCHEMA_VERSION,
        "conn_state": "SF",
        "history": "ShADdFf",
        "end_reason": "end_of_capture",
        "first_frame": 1,
        "last_frame": 8,
        "tunnel_depth": 0,
    }
    # Originator: IP lengths 40, 40, 140, 40, 40 at 0, .1, .2, 1.0, 1.2 s.
    assert flow["orig"]["payload_bytes"] == 100
    assert flow["orig"]["tcp_flags"] == 0x02 | 0x10 | 0x08 | 0x01
    assert flow["orig"]["ip_len"] == pytest.approx({"min": 40, "mean": 60, "std": 40, "max": 140})
    assert flow["orig"]["iat_seconds"] == pytest.approx(
        {"min": 0.1, "mean": 0.3, "std": 0.085**0.5, "max": 0.8}
    )
    # Responder: 40, 240, 40 at .05, .35, 1.1 s.
    assert flow["resp"]["payload_bytes"] == 200
    sizes = [40, 240, 40]
    mean = sum(sizes) / 3
    std = (sum((x - mean) ** 2 for x in sizes) / 3) ** 0.5
    assert flow["resp"]["ip_len"] == pytest.approx(
        {"min": 40, "mean": mean, "std": std, "max": 240}
    )
    assert flow["resp"]["iat_seconds"] == pytest.approx(
        {"min": 0.3, "mean": 0.525, "std": 0.225, "max": 0.75}
    )


def test_flow_row_matches_the_document() -> None:
    run = _known_flow()
    (row,) = run.flows
    (doc,) = flow_documents(run.batch)
    assert (row.flow_id, row.community_id, row.transport, row.proto) == (
        doc["event"]["id"], doc["network"]["community_id"], "tcp", 6)  # fmt: skip
    assert (row.orig_ip, row.orig_port, row.resp_ip, row.resp_port, row.vlan) == (
        C, 51000, S, 443, 42)  # fmt: skip
    assert (row.orig_pkts, row.resp_pkts, row.orig_bytes, row.resp_bytes) == (5, 3, 300, 320)
    assert (row.orig_payload, row.resp_payload) == (100, 200)
    assert (row.start_ns, row.end_ns, row.duration_ns) == (ns(T0), ns(T0 + 1.2), 1_200_000_000)
    assert (row.conn_state, row.history, row.end_reason) == ("SF", "ShADdFf", "end_of_capture")
    assert (row.capture, row.first_frame, row.last_frame) == ("test.pcap", 1, 8)


def test_flow_ids_are_deterministic_across_runs() -> None:
    first = [f.flow_id for f in _known_flow().flows]
    again = [f.flow_id for f in _known_flow().flows]
    assert first == again


def test_inner_vlan_and_ipv6_and_one_way_flow() -> None:
    qinq = bytes(Ether(type=0x88A8) / Dot1AD(vlan=100, type=0x8100) / Dot1Q(vlan=7, type=0x86DD)
                 / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5000, dport=6000)
                 / b"abc")  # fmt: skip
    (doc,) = flow_documents(run_flows([qinq], [T0], linktype=1).batch)
    assert doc["network"]["vlan"] == {"id": "100"}
    assert doc["network"]["inner"] == {"vlan": {"id": "7"}}
    assert doc["network"]["type"] == "ipv6"
    assert doc["source"] == {"ip": "2001:db8::1", "port": 5000, "bytes": 51, "packets": 1}
    assert doc["destination"] == {"ip": "2001:db8::2", "port": 6000, "bytes": 0, "packets": 0}
    resp = doc["cityshield"]["flow"]["resp"]
    assert (resp["ip_len"], resp["iat_seconds"]) == ({}, {})
    assert doc["cityshield"]["flow"]["orig"]["iat_seconds"] == {}
    assert doc["cityshield"]["flow"]["conn_state"] == "S0"


def test_portless_protocol_has_no_ports() -> None:
    esp = bytes(IP(src=C, dst=S, proto=50) / (b"\x00" * 8))
    (doc,) = flow_documents(run_flows([esp], [T0]).batch)
    assert "port" not in doc["source"]
    assert "port" not in doc["destination"]
    assert doc["network"]["transport"] == "esp"
    assert "vlan" not in doc["network"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456Z"),
        (999, "1970-01-01T00:00:00.000000Z"),
    ],
)
def test_iso_timestamps_truncate_to_microseconds(value: int, text: str) -> None:
    assert iso(value) == text

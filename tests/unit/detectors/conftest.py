"""Flows for detector tests, made the way production makes them: scapy packets written to a pcap
and read back through the sensor engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from sensors.engine import SensorEngine
from sensors.flows import FlowBatch

T0 = 1_772_438_400.0  # 2026-03-02T08:00:00Z


def eth(ip: Packet) -> Packet:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip


def syn_probe(src: str, dst: str, sport: int, dport: int, t: float, *, answer: str) -> list[Packet]:
    """A SYN and the answer of a closed port ("rst"), an open one ("synack"), or none."""
    syn = eth(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=1000))
    syn.time = t
    out = [syn]
    if answer == "rst":
        rst = eth(IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="RA", ack=1001))
        rst.time = t + 0.001
        out.append(rst)
    elif answer == "synack":
        sa = eth(IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="SA", seq=5, ack=1001))
        sa.time = t + 0.001
        rst = eth(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="R", seq=1001))
        rst.time = t + 0.002
        out += [sa, rst]
    return out


def session(
    src: str, dst: str, sport: int, dport: int, t: float, *, client: bytes, server: bytes,
    duration: float = 2.0,
) -> list[Packet]:  # fmt: skip
    """A complete TCP session: handshake, one request, one response, FIN from both sides."""
    c, s = 1000, 5000
    pkts = [
        IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S", seq=c),
        IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="SA", seq=s, ack=c + 1),
        IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="A", seq=c + 1, ack=s + 1),
        IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="PA", seq=s + 1, ack=c + 1)
        / Raw(server),
        IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="PA", seq=c + 1,
                                   ack=s + 1 + len(server)) / Raw(client),
        IP(src=dst, dst=src) / TCP(sport=dport, dport=sport, flags="FA", seq=s + 1 + len(server),
                                   ack=c + 1 + len(client)),
        IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="FA", seq=c + 1 + len(client),
                                   ack=s + 2 + len(server)),
    ]  # fmt: skip
    step = duration / (len(pkts) - 1)
    out = []
    for i, p in enumerate(pkts):
        frame = eth(p)
        frame.time = t + i * step
        out.append(frame)
    return out


def echo(src: str, dst: str, t: float, *, reply: bool) -> list[Packet]:
    req = eth(IP(src=src, dst=dst) / ICMP(type=8, id=7, seq=1))
    req.time = t
    if not reply:
        return [req]
    rep = eth(IP(src=dst, dst=src) / ICMP(type=0, id=7, seq=1))
    rep.time = t + 0.001
    return [req, rep]


@pytest.fixture
def flows_of(tmp_path: Path) -> Callable[[list[Packet]], FlowBatch]:
    def run(packets: list[Packet]) -> FlowBatch:
        path = tmp_path / "t.pcap"
        wrpcap(str(path), sorted(packets, key=lambda p: float(p.time)))
        engine = SensorEngine(seed=7)
        parts = [r.flows for r in engine.read(path)] + [engine.finish().flows]
        return FlowBatch.concat(parts)

    return run

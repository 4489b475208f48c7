"""The sensor engine: a capture file through reading, decoding and flow tracking, with stats."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from sensorkit import Record, WriteCapture, pcap_file

from cityshield.errors import CaptureError
from sensors.engine import SensorEngine, SensorSettings
from sensors.events import WeirdSeen
from sensors.flows import FlowBatch
from sensors.sources import CaptureSettings

MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
C, S = "10.0.0.1", "10.0.0.2"


def _eth(pkt: object) -> bytes:
    return bytes(Ether(**MAC) / pkt)  # type: ignore[operator]


def _conversation() -> list[bytes]:
    c = lambda f, d=b"": _eth(IP(src=C, dst=S) / TCP(sport=40000, dport=80, flags=f) / d)  # noqa: E731
    s = lambda f, d=b"": _eth(IP(src=S, dst=C) / TCP(sport=80, dport=40000, flags=f) / d)  # noqa: E731
    return [c("S"), s("SA"), c("A"), c("PA", b"GET / HTTP/1.0\r\n\r\n"), s("PA", b"HTTP/1.0 200"),
            c("FA"), s("FA"), c("A")]  # fmt: skip


def _capture(frames: list[bytes], start: int = 1_700_000_000) -> bytes:
    return pcap_file([Record(start + i, 0, f) for i, f in enumerate(frames)])


def test_a_capture_end_to_end(write_capture: WriteCapture) -> None:
    frames = [*_conversation(), _eth(ARP()), b"\x00" * 6]  # plus ARP and a runt frame
    frames.append(_eth(IP(src=C, dst="10.0.0.3") / UDP(sport=5353, dport=5353) / b"mdns"))
    path = write_capture(_capture(frames))
    engine = SensorEngine(SensorSettings(name="tap-1"), seed=5)
    results = list(engine.read(path))
    assert sum(r.packets for r in results) == len(frames)
    assert sum(r.bytes for r in results) == sum(len(f) for f in frames)
    assert results[-1].read_bytes == len(_capture(frames))
    weird = [w for r in results for w in r.weird]
    assert weird == [WeirdSeen("truncated_link_header", str(path), 10)]
    final = engine.finish()
    flows = FlowBatch.concat([*(r.flows for r in results), final.flows]).rows()
    assert [(f.transport, f.conn_state, f.orig_pkts, f.resp_pkts) for f in flows] == [
        ("tcp", "SF", 5, 3),
        ("udp", "S0", 1, 0),
    ]
    assert {f.capture for f in flows} == {str(path)}
    stats = engine.stats
    assert (stats.packets, stats.decoded, stats.flows_created, stats.flows_active) == (11, 9, 2, 0)
    assert stats.bytes == sum(len(f) for f in frames)
    assert stats.weird == {"truncated_link_header": 1}
    assert stats.other == {"arp": 1}
    assert sum(stats.flows_ended.values()) == 2
    assert stats.capture_problems == []


def test_flows_continue_across_captures_and_batches(write_capture: WriteCapture) -> None:
    conv = _conversation()
    first = write_capture(_capture(conv[:4]), "a.pcap")
    second = write_capture(_capture(conv[4:], start=1_700_000_004), "b.pcap")
    engine = SensorEngine(seed=1)
    parts = [r.flows for path in (first, second) for r in engine.read(path)]
    (flow,) = FlowBatch.concat([*parts, engine.finish().flows]).rows()
    assert (flow.conn_state, flow.orig_pkts + flow.resp_pkts) == ("SF", 8)
    assert flow.capture == str(first)  # where the flow began


def test_small_chunks_give_several_batches_and_the_same_flows(write_capture: WriteCapture) -> None:
    frames = [_eth(IP(src=C, dst=S) / UDP(sport=1000 + i % 50, dport=53) / (b"q" * 900))
              for i in range(300)]  # fmt: skip
    path = write_capture(_capture(frames))
    small = SensorEngine(SensorSettings(capture=CaptureSettings(chunk_bytes=65536)), seed=1)
    big = SensorEngine(seed=1)
    small_results = list(small.read(path))
    assert len(small_results) > 1
    a = FlowBatch.concat([*(r.flows for r in small_results), small.finish().flows]).rows()
    b = FlowBatch.concat([*(r.flows for r in big.read(path)), big.finish().flows]).rows()
    assert a == b
    assert sum(f.orig_pkts for f in a) == 300


def test_truncated_capture_is_a_problem_in_the_stats(write_capture: WriteCapture) -> None:
    raw = _capture(_conversation())
    path = write_capture(raw[:-5])
    engine = SensorEngine()
    assert sum(r.packets for r in engine.read(path)) == 7
    (problem,) = engine.stats.capture_problems
    assert problem.startswith(f"{path}: capture ends inside the record of frame 8")


def test_corrupt_capture_raises_after_what_could_be_read(write_capture: WriteCapture) -> None:
    raw = bytearray(_capture(_conversation()))
    third = 24 + sum(16 + len(f) for f in _conversation()[:2])
    raw[third + 8 : third + 12] = (1 << 30).to_bytes(4, "little")
    path = write_capture(bytes(raw))
    engine = SensorEngine()
    seen = 0
    with pytest.raises(CaptureError, match="frame 3"):
        for r in engine.read(path):
            seen += r.packets
    assert seen == 2
    assert engine.stats.packets == 2
    assert len(engine.finish().flows) == 1

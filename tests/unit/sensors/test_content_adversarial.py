"""Traffic built to hurt an IDS: every budget holds, counters say what was given up."""

from __future__ import annotations

from pathlib import Path

from contentkit import Conversation, facts, run, streams, tcp_frame, write_pcap

from sensors.content import ContentSettings
from sensors.engine import SensorEngine, SensorSettings
from sensors.sources import CaptureSettings


def test_many_tiny_out_of_order_segments_stay_within_the_segment_budget(tmp_path: Path) -> None:
    conv = Conversation("203.0.113.9", "198.51.100.10", 41000, 8081).handshake()
    data = bytes(i % 251 for i in range(20_000))
    segs = conv.segments("c", data, 1)
    conv.send("c", [segs[0], *reversed(segs[1:])]).close()  # all but the first arrive backwards
    results, engine = run(write_pcap(tmp_path / "t.pcap", conv.frames),
                          streams={"max_pending_segments": 256})  # fmt: skip
    got = b"".join(d for _, _, d in streams(facts(results)))
    stats = engine.content.stats
    assert stats["gaps"] > 0  # holes were given up instead of holding 20,000 segments
    assert len(got) < len(data)
    assert engine.content.memory == 0 and engine.content.open_streams == 0


def test_conflicting_overlaps_keep_the_first_bytes_every_time(tmp_path: Path) -> None:
    conv = Conversation("203.0.113.9", "198.51.100.10", 41001, 8081).handshake()
    payload = b"A" * 1000
    (seq, _), = conv.segments("c", payload, 1000)  # fmt: skip
    evil = [(seq + i, b"B" * 10) for i in range(0, 990, 7)]
    conv.send("c", [(seq, payload), *evil]).close()
    results, engine = run(write_pcap(tmp_path / "t.pcap", conv.frames))
    assert [d for _, _, d in streams(facts(results))] == [payload]
    assert engine.content.stats["conflicts"] == len(evil)


def test_a_hundred_thousand_half_open_connections_hold_no_content_state(tmp_path: Path) -> None:
    frames = [
        (1000 + i * 1e-5, tcp_frame(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                                    "198.51.100.10", 20000 + i % 40000, 80, i, "S"))
        for i in range(100_000)
    ]  # fmt: skip
    engine = SensorEngine(SensorSettings(), seed=1)
    peak = 0
    for _ in engine.read(write_pcap(tmp_path / "syn.pcap", frames)):
        peak = max(peak, engine.content.open_streams)
    engine.finish()
    assert peak == 0
    assert engine.stats.flows_created == 100_000


def test_streams_beyond_the_budget_are_refused_and_counted(tmp_path: Path) -> None:
    frames = []
    for i in range(3_000):
        src = f"10.1.{i >> 8}.{i & 255}"
        frames.append(
            (1000 + i * 1e-4, tcp_frame(src, "198.51.100.10", 30000, 8081, 7, "PA", b"x"))
        )
    _results, engine = run(
        write_pcap(tmp_path / "many.pcap", frames), streams={"max_streams": 1000}
    )
    assert engine.content.stats["streams"] == 1000
    assert engine.content.stats["streams_refused"] == 2000
    assert engine.content.open_streams == 0


def test_memory_stays_within_the_budget(tmp_path: Path) -> None:
    frames: list[tuple[float, bytes]] = []
    for i in range(400):
        conv = Conversation(f"10.2.{i >> 8}.{i & 255}", "198.51.100.10", 30000, 8081, t=1000 + i)
        conv.handshake()
        segs = conv.segments("c", bytes(8000), 1000)
        conv.send("c", segs[1:])  # the first segment never comes: 7 KB wait behind a hole
        frames += conv.frames
    frames.sort()
    budget = 1024 * 1024
    settings = SensorSettings(
        capture=CaptureSettings(chunk_bytes=64 * 1024),
        content=ContentSettings.model_validate({"streams": {"memory": budget}}),
    )
    engine = SensorEngine(settings, seed=1)
    peak = 0
    for _ in engine.read(write_pcap(tmp_path / "m.pcap", frames)):
        peak = max(peak, engine.content.memory)
    engine.finish()
    assert engine.content.stats["memory_budget_exceeded"] > 0
    assert peak <= budget + settings.content.streams.chunk_bytes
    assert engine.content.memory == 0


def test_file_bytes_kept_by_open_bodies_share_one_pool() -> None:
    from sensors.events import FlowRef
    from sensors.protocols.base import SharedBudget
    from sensors.protocols.http.files import FileBuilder

    pool = SharedBudget(1000)
    flow = FlowRef("f", "1:x", "tcp", "10.0.0.1", 1, "10.0.0.2", 80, 0, 0, "t")
    files = [FileBuilder(flow, "resp", f"F{i}", 0, name=None, declared=None, keep=400, pool=pool)
             for i in range(4)]  # fmt: skip
    for f in files:
        f.write(b"x" * 600)
    assert [f.kept for f in files] == [400, 400, 200, 0]
    assert pool.used == 1000 and pool.refused == 2
    seen = [f.finish() for f in files]
    assert [s.size for s in seen if s] == [600] * 4  # hashed and sized whole all the same
    assert all(s.truncated for s in seen if s)
    del files, f
    assert pool.used == 0

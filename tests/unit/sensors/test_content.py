"""The content stage end to end: capture -> reassembly -> parsers -> facts."""

from __future__ import annotations

import random
from pathlib import Path

import dns.message
import dns.rrset
from contentkit import Conversation, facts, run, streams, udp_frame, write_pcap

from sensors.flows import FlowBatch

REQUEST = b"GET /eservices/permit?id=42 HTTP/1.1\r\nHost: portal.city.example\r\n\r\n"
PAGE = b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + bytes(range(256)) * 78 + b"x" * 32


def test_both_directions_are_rebuilt_from_shuffled_duplicated_segments(tmp_path: Path) -> None:
    conv = Conversation("10.0.0.1", "198.51.100.10", 40001, 8081).handshake()
    conv.say("c", REQUEST, 20)
    segs = conv.segments("s", PAGE, 700)
    rnd = random.Random(7)
    shuffled = segs + rnd.sample(segs, 5)
    rnd.shuffle(shuffled)
    conv.send("s", shuffled).close()
    results, engine = run(
        write_pcap(tmp_path / "c.pcap", conv.frames), streams={"chunk_bytes": 4096}
    )
    got = {d: data for _, d, data in streams(facts(results))}
    assert got == {"orig": REQUEST, "resp": PAGE}
    chunks = [c for c in facts(results).stream_chunks if c.direction == "resp"]
    assert len(chunks) >= 5 and chunks[-1].final and not any(c.final for c in chunks[:-1])
    assert all(c.overlap == 1024 for c in chunks[1:])
    assert engine.content.stats["retransmissions"] >= 5
    assert engine.content.memory == 0 and engine.content.open_streams == 0


def test_chunks_name_the_flow_the_flow_record_will_have(tmp_path: Path) -> None:
    conv = Conversation("10.0.0.1", "198.51.100.10", 40002, 8081).handshake()
    conv.say("c", REQUEST).say("s", PAGE).close()
    results, _ = run(write_pcap(tmp_path / "c.pcap", conv.frames))
    flows = FlowBatch.concat([r.flows for r in results])
    chunk = facts(results).stream_chunks[0]
    assert chunk.flow.flow_id == flows.flow_ids()[0]
    assert chunk.flow.community_id == flows.community_ids()[0]
    assert (chunk.flow.orig_ip, chunk.flow.resp_port) == ("10.0.0.1", 8081)


def test_conflicting_overlaps_are_counted_and_the_first_bytes_kept(tmp_path: Path) -> None:
    conv = Conversation("10.0.0.1", "198.51.100.10", 40003, 8081).handshake()
    (seq, first), = conv.segments("c", b"GET /innocent HTTP/1.1\r\n")  # fmt: skip
    conv.send("c", [(seq, first), (seq + 4, b"/evil!!!")]).close()
    results, engine = run(write_pcap(tmp_path / "c.pcap", conv.frames))
    assert [data for _, _, data in streams(facts(results))] == [first]
    assert engine.content.stats["conflicts"] == 1


def test_ssh_banners(tmp_path: Path) -> None:
    conv = Conversation("10.20.0.11", "198.51.100.22", 40004, 22).handshake()
    conv.say("s", b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
    conv.say("c", b"SSH-2.0-libssh_0.9.6\r\n" + bytes(300)).close()
    results, _ = run(write_pcap(tmp_path / "c.pcap", conv.frames))
    (ssh,) = facts(results).ssh
    assert ssh.client_banner == "SSH-2.0-libssh_0.9.6"
    assert ssh.server_banner == "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"


def test_dns_over_udp_through_the_engine(tmp_path: Path) -> None:
    q = dns.message.make_query("permits.city.example.", "A")
    r = dns.message.make_response(q)
    r.set_rcode(3)
    frames = [
        (10.0, udp_frame("10.0.0.5", "198.51.100.53", 53000, 53, q.to_wire())),
        (10.002, udp_frame("198.51.100.53", "10.0.0.5", 53, 53000, r.to_wire())),
    ]
    results, _ = run(write_pcap(tmp_path / "d.pcap", frames))
    (rec,) = facts(results).dns
    assert (rec.query, rec.qtype, rec.rcode, rec.rtt_ns) == ("permits.city.example", "A",
                                                            "NXDOMAIN", 2_000_000)  # fmt: skip
    assert rec.flow.orig_ip == "10.0.0.5"


def test_content_inspection_can_be_turned_off(tmp_path: Path) -> None:
    conv = Conversation("10.0.0.1", "198.51.100.10", 40005, 22).handshake()
    conv.say("s", b"SSH-2.0-x\r\n").say("c", b"SSH-2.0-y\r\n").close()
    results, engine = run(write_pcap(tmp_path / "c.pcap", conv.frames), enabled=False)
    assert len(facts(results)) == 0 and engine.content.stats == {}

"""Fuzz: DNS messages, SSH banners, the stream reassembler and the content stage.

Invariants: only ``ParserError`` leaves a parser; the reassembler never delivers more than its
depth nor holds more than its pending budget plus one segment; the content stage survives any
TCP or UDP payloads and ends with no state and no memory held.
"""

from __future__ import annotations

import contextlib
import struct

import dns.message
from fuzzkit import FUZZ, batch
from hypothesis import given
from hypothesis import strategies as st

from sensors.content import ContentStage
from sensors.decode import Decoder
from sensors.events import ContentFacts, FlowRef
from sensors.flows import FlowTable
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.dns import DnsDatagramParser
from sensors.protocols.dnswire import parse
from sensors.protocols.ssh import SshParser
from sensors.streams.stream import Delivery, Stream

FLOW = FlowRef("f", "1:x", "udp", "10.0.0.1", 1, "10.0.0.2", 53, 0, 0, "t")
SEED = dns.message.make_query("www.city.example.", "MX", want_dnssec=True).to_wire()


@FUZZ
@given(st.binary(max_size=600))
def test_dns_parse_raises_only_parser_errors(data: bytes) -> None:
    with contextlib.suppress(ParserError):
        parse(data)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), max_size=8))
def test_dns_mutated_messages(edits: list[tuple[int, int]]) -> None:
    wire = bytearray(SEED)
    for pos, value in edits:
        wire[pos] = value
    facts = ContentFacts()
    p = DnsDatagramParser(FLOW, ParserLimits())
    with contextlib.suppress(ParserError):
        p.datagram("orig", bytes(wire), 1, facts)
    p.close(2, facts)
    assert len(facts.dns) <= 1


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["orig", "resp"]), st.binary(max_size=300)), max_size=12))
def test_ssh_parser_raises_only_parser_errors(pieces: list[tuple[str, bytes]]) -> None:
    facts = ContentFacts()
    p = SshParser(FLOW, ParserLimits())
    try:
        for direction, data in pieces:
            p.feed(direction, data, 1, facts)  # type: ignore[arg-type]
    except ParserError:
        return
    p.close(2, facts)
    assert len(facts.ssh) <= 1


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=64), st.booleans()),
        max_size=60,
    ),
    st.integers(0, 2000),
)
def test_reassembler_budgets_hold(segments: list[tuple[int, bytes, bool]], depth: int) -> None:
    s = Stream(depth=depth, max_pending=256, max_pending_segments=8)
    out: list[Delivery] = []
    for seq, data, fin in segments:
        s.add(seq, data, fin, out)
        assert s.pending_bytes <= 256 + 64
        assert len(s.offsets) <= 8
    s.close(out)
    assert sum(len(d.data) for d in out) <= depth
    assert s.pending_bytes == 0


def _tcp(sport: int, dport: int, seq: int, flags: int, payload: bytes, reverse: bool) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 0x50, flags, 65535, 0, 0)
    src, dst = (b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x01") if reverse else (
        b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02")  # fmt: skip
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0, src, dst)
    return bytes(12) + b"\x08\x00" + ip + tcp + payload


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from([22, 53, 80, 443, 8080, 5000]),
            st.integers(0, 2**32 - 1),
            st.sampled_from([0x18, 0x10, 0x02, 0x12, 0x11, 0x04, 0x19]),
            st.one_of(st.binary(max_size=200), st.sampled_from(
                [b"SSH-2.0-x\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello"])),
            st.booleans(),
        ),
        max_size=40,
    )
)  # fmt: skip
def test_content_stage_survives_any_tcp_payloads(
    packets: list[tuple[int, int, int, bytes, bool]],
) -> None:
    frames = [_tcp(40000, port, seq, fl, data, rev) for port, seq, fl, data, rev in packets]
    if not frames:
        return
    b = batch(frames, [1] * len(frames), [1_000 + i * 1_000 for i in range(len(frames))])
    decoder, table, stage = Decoder(), FlowTable(seed=1), ContentStage()
    decoded = decoder.decode(b)
    ended = table.update(decoded, b)
    stage.process(decoded, b, table)
    stage.end(ended)
    stage.end(table.flush())
    stage.finish()
    assert stage.open_streams == 0
    assert stage.memory == 0
    assert not any(k.startswith("parser_error") for k in stage.stats)

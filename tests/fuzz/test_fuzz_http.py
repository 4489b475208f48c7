"""Fuzz: the HTTP/1.x parser.

Invariants: only ``ParserError`` leaves it, whatever the bytes, gaps and piece sizes; its buffers
stay within their budgets; and well-formed conversations give the same records and files however
the bytes are cut into pieces (reassembly hands them over in pieces of any size).
"""

from __future__ import annotations

import gzip
import itertools
import zlib

from fuzzkit import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from sensors.events import ContentFacts, FlowRef
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.http import HttpParser
from sensors.protocols.http.parser import MAX_HEAD, MAX_PENDING

FLOW = FlowRef("f", "1:x", "tcp", "10.0.0.1", 40000, "10.0.0.2", 80, 0, 0, "t")
LIMITS = ParserLimits(max_line=2048, max_headers=32, max_decompressed=64 * 1024,
                      max_file_data=4096, max_transactions=50)  # fmt: skip
SEED_REQ = (b"POST /up?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=zz\r\n\r\n"
            b"2d\r\n--zz\r\nContent-Disposition: form-data; filename=a\r\n\r\n\r\n"
            b"9\r\nAAA\r\n--zz--\r\n0\r\n\r\nGET / HTTP/1.0\r\n\r\n")  # fmt: skip
SEED_RESP = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 29\r\n\r\n"
             + gzip.compress(b"hello hello", mtime=0)
             + b"HTTP/1.1 101 Switching\r\n\r\n")  # fmt: skip

Step = tuple[str, bytes | int]  # (direction, bytes) or (direction, gap size)


def drive(steps: list[Step], limits: ParserLimits = LIMITS) -> ContentFacts:
    facts = ContentFacts()
    p = HttpParser(FLOW, limits)
    try:
        for ts, (direction, item) in enumerate(steps):
            if isinstance(item, int):
                p.gap(direction, item, ts, facts)  # type: ignore[arg-type]
            else:
                p.feed(direction, item, ts, facts)  # type: ignore[arg-type]
            for side in (p._req, p._resp):
                assert len(side.head) <= MAX_HEAD + 4
            assert len(p._held) <= MAX_HEAD and len(p._pending) <= MAX_PENDING
        p.close(len(steps), facts)
    except ParserError:
        pass
    assert len(facts.http) <= limits.max_transactions
    assert all(len(f.data) <= limits.max_file_data for f in facts.files)
    return facts


directions = st.sampled_from(["orig", "resp"])


@FUZZ
@given(st.lists(st.tuples(directions, st.binary(max_size=300) | st.integers(1, 5000)),
                max_size=12))  # fmt: skip
def test_any_bytes_and_gaps(steps: list[Step]) -> None:
    drive(steps)


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SEED_REQ) + len(SEED_RESP) - 1),
                          st.sampled_from(b"\r\n :;0aZ\x00-\t")), max_size=6),
       st.integers(1, 64))  # fmt: skip
def test_mutated_conversations(edits: list[tuple[int, int]], piece: int) -> None:
    wire = bytearray(SEED_REQ + SEED_RESP)
    for pos, value in edits:
        wire[pos] = value
    req, resp = bytes(wire[: len(SEED_REQ)]), bytes(wire[len(SEED_REQ) :])
    steps: list[Step] = []
    for i in range(0, max(len(req), len(resp)), piece):
        steps += [("orig", req[i : i + piece]), ("resp", resp[i : i + piece])]
    drive(steps)


def message(body: bytes, framing: str, coding: str, response: bool) -> bytes:
    headers = []
    if coding == "gzip":
        body, headers = gzip.compress(body, mtime=0), ["Content-Encoding: gzip"]
    elif coding == "deflate":
        body, headers = zlib.compress(body), ["Content-Encoding: deflate"]
    if framing == "chunked":
        headers.append("Transfer-Encoding: chunked")
        body = b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 5]), body[i : i + 5])
                        for i in range(0, len(body), 5)) + b"0\r\n\r\n"  # fmt: skip
    else:
        headers.append(f"Content-Length: {len(body)}")
    start = "HTTP/1.1 200 OK" if response else "PUT /f HTTP/1.1\r\nHost: h"
    return ("\r\n".join([start, *headers]) + "\r\n\r\n").encode() + body


exchange = st.tuples(st.binary(max_size=200), st.sampled_from(["length", "chunked"]),
                     st.sampled_from(["", "gzip", "deflate"]))  # fmt: skip


@FUZZ
@given(st.lists(st.tuples(exchange, exchange), min_size=1, max_size=4), st.data())
def test_the_same_records_however_the_bytes_are_cut(
    exchanges: list[tuple[tuple[bytes, str, str], tuple[bytes, str, str]]], data: st.DataObject
) -> None:
    req = b"".join(message(*q, response=False) for q, _ in exchanges)
    resp = b"".join(message(*r, response=True) for _, r in exchanges)
    whole = drive([("orig", req), ("resp", resp)])
    cuts = [sorted(data.draw(st.sets(st.integers(1, max(len(b) - 1, 1)), max_size=20)))
            for b in (req, resp)]  # fmt: skip
    steps: list[Step] = []
    for (direction, wire), points in zip((("orig", req), ("resp", resp)), cuts, strict=True):
        bounds = [0, *points, len(wire)]
        steps += [(direction, wire[a:b]) for a, b in itertools.pairwise(bounds)]
    cut = drive(steps)
    assert [
        (h.trans_depth, h.request_body_len, h.response_body_len, h.problems) for h in whole.http
    ] == [(h.trans_depth, h.request_body_len, h.response_body_len, h.problems) for h in cut.http]
    assert [f.sha256 for f in whole.files] == [f.sha256 for f in cut.files]
    expected = [b for pair in exchanges for b in (pair[0][0], pair[1][0]) if b]
    assert sorted(f.data for f in whole.files) == sorted(expected)
    assert not any(h.problems for h in whole.http)

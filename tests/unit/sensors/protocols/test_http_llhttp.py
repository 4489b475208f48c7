"""Why the HTTP parser is hand-written and not ``httptools`` (llhttp): cases an IDS must read that
llhttp, with every one of its ten "dangerous leniencies" on, cannot.

Measured on the corpus (Zeek's HTTP traces and suricata-verify's captures with HTTP/1.x, 378
captures, 1,010 reassembled HTTP directions): llhttp stopped for good in 95 (9.4%), mostly on
junk before a message, odd methods and versions; it has no way to resync. And it cannot be told
that a response answers a HEAD request, so it frames every later response on the connection
wrong. These tests keep that finding honest: if a new llhttp reads these, the choice can be
revisited.
"""

from __future__ import annotations

import hashlib

import pytest
from httpkit import EICAR, EICAR_SHA256, parse, request, response

httptools = pytest.importorskip("httptools")


class _Sink:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.statuses: list[int] = []

    def on_message_begin(self) -> None:
        self.bodies.append(b"")

    def on_body(self, body: bytes) -> None:
        self.bodies[-1] += body


def lenient(parser: object) -> object:
    parser.set_dangerous_leniencies(  # type: ignore[attr-defined]
        lenient_headers=True, lenient_chunked_length=True, lenient_keep_alive=True,
        lenient_transfer_encoding=True, lenient_version=True, lenient_data_after_close=True,
        lenient_optional_lf_after_cr=True, lenient_optional_cr_before_lf=True,
        lenient_optional_crlf_after_chunk=True, lenient_spaces_after_chunk_size=True,
    )  # fmt: skip
    return parser


def test_a_head_response_misframes_the_next_one_in_llhttp() -> None:
    wire = response(200, "Content-Length: 68", length=False) + response(200, body=EICAR)
    sink = _Sink()
    p = lenient(httptools.HttpResponseParser(sink))
    # It takes the second response's head as the first one's body, then stops at the EICAR.
    with pytest.raises(httptools.HttpParserError):
        p.feed_data(wire)  # type: ignore[attr-defined]
    assert EICAR_SHA256 not in [hashlib.sha256(b).hexdigest() for b in sink.bodies]
    facts = parse([("orig", request("HEAD", "/x") + request("GET", "/eicar")), ("resp", wire)])
    assert [f.sha256 for f in facts.files] == [EICAR_SHA256]


@pytest.mark.parametrize(
    ("direction", "wire"),
    [
        ("orig", b"\x00\x01 GET /eicar HTTP/1.1\r\nHost: h\r\n\r\n"),  # junk before the request
        ("resp", b"http/1.1 200 ok\r\nContent-Length: 68\r\n\r\n" + EICAR),  # lower-case version
        ("resp", b"HTTP/1.1 200 ok\r\nContent-Length: 68\r\n\r\n" + EICAR + b"junk\r\n"
                 b"HTTP/1.1 200 ok\r\nContent-Length: 2\r\n\r\nok"),  # junk between responses
    ],
)  # fmt: skip
def test_llhttp_stops_where_we_read_on(direction: str, wire: bytes) -> None:
    cls = httptools.HttpRequestParser if direction == "orig" else httptools.HttpResponseParser
    with pytest.raises(httptools.HttpParserError):
        lenient(cls(_Sink())).feed_data(wire)  # type: ignore[attr-defined]
    answers = wire.upper().count(b"HTTP/1.1 200")
    steps = [("orig", wire)] if direction == "orig" else [
        ("orig", request("GET", "/a") * answers), ("resp", wire)]  # fmt: skip
    facts = parse(steps)  # type: ignore[arg-type]
    assert len(facts.http) == max(answers, 1)
    assert direction == "orig" or all(h.status == 200 for h in facts.http)

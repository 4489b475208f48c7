"""HTTP/1.x parser: heads, pairing and pipelining, framing, upgrades, hostile input."""

from __future__ import annotations

import pytest
from httpkit import FLOW, chunked, parse, request, response

from sensors.events import ContentFacts
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.http import HttpParser


def test_a_request_and_its_response() -> None:
    facts = parse([
        ("orig", request("GET", "/services/permit.pdf?id=7", "User-Agent: curl/8.0",
                         "Referer: http://portal.city.example/")),
        ("resp", response(200, "Content-Type: application/pdf", body=b"%PDF-1.7\n...")),
    ])  # fmt: skip
    (h,) = facts.http
    assert (h.trans_depth, h.method, h.uri, h.version, h.host) == (
        1, "GET", "/services/permit.pdf?id=7", "1.1", "portal.city.example")  # fmt: skip
    assert (h.user_agent, h.referrer, h.status, h.reason) == (
        "curl/8.0", "http://portal.city.example/", 200, "Reason")  # fmt: skip
    assert (h.request_body_len, h.response_body_len, h.problems) == (0, 12, ())
    assert ("User-Agent", "curl/8.0") in h.request_headers
    (f,) = facts.files
    assert h.response_files == (f.file_id,) and h.request_files == ()
    assert (f.name, f.mime_type, f.size) == ("permit.pdf", "application/pdf", 12)
    assert f.direction == "resp"


def test_pipelined_requests_pair_in_order_whatever_the_pieces() -> None:
    reqs = b"".join(request("GET", f"/r{i}") for i in range(3))
    resps = b"".join(response(200 + i, body=b"x" * i) for i in range(3))
    for piece in (0, 1, 5):
        facts = parse([("orig", reqs), ("resp", resps)], piece=piece)
        assert [(h.trans_depth, h.uri, h.status, h.response_body_len) for h in facts.http] == [
            (1, "/r0", 200, 0), (2, "/r1", 201, 1), (3, "/r2", 202, 2)]  # fmt: skip


def test_head_204_304_and_interim_responses_have_no_body() -> None:
    facts = parse([
        ("orig", request("HEAD", "/a") + request("GET", "/b") + request("GET", "/c")
         + request("POST", "/d", "Expect: 100-continue", body=b"k=v")),
        ("resp", response(200, "Content-Length: 500", length=False) + response(204, length=False)
         + response(304, "Content-Length: 9", length=False)
         + b"HTTP/1.1 100 Continue\r\n\r\n" + response(201, body=b"ok")),
    ])  # fmt: skip
    got = [(h.method, h.status, h.request_body_len, h.response_body_len) for h in facts.http]
    assert got == [("HEAD", 200, 0, 0), ("GET", 204, 0, 0), ("GET", 304, 0, 0),
                   ("POST", 201, 3, 2)]  # fmt: skip


def test_a_body_to_the_end_of_the_connection() -> None:
    facts = parse([("orig", request()), ("resp", b"HTTP/1.0 200 OK\r\n\r\nall of it")])
    assert facts.http[0].response_body_len == 9 and facts.http[0].problems == ()


def test_chunked_bodies_in_any_pieces() -> None:
    body = b"<html>" + bytes(range(256)) * 3 + b"</html>"
    wire = response(200, "Transfer-Encoding: chunked", body=chunked(body, 100, ";ext=1"))
    for piece in (0, 1, 3, 64):
        facts = parse([("orig", request()), ("resp", wire)], piece=piece)
        (h,) = facts.http
        assert h.response_body_len == len(body) and not h.problems, piece
        assert facts.files[0].data == body


def test_a_request_without_response_is_reported_at_close() -> None:
    facts = parse([("orig", request("POST", "/login", body=b"user=a&pass=b"))])
    (h,) = facts.http
    assert (h.method, h.status, h.request_body_len) == ("POST", None, 13)


def test_a_response_without_request() -> None:
    facts = parse([("resp", response(200, body=b"hi"))])
    (h,) = facts.http
    assert (h.method, h.status, h.response_body_len) == (None, 200, 2)
    assert "response_without_request" in h.problems


def test_connect_tunnel_stops_parsing() -> None:
    facts = parse([
        ("orig", b"CONNECT portal.city.example:443 HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01junk"),
        ("resp", b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03more"),
        ("orig", b"GET /not-http HTTP/1.1\r\n\r\n"),
    ])  # fmt: skip
    assert [(h.method, h.status) for h in facts.http] == [("CONNECT", 200)]


def test_upgrade_accepted_stops_and_refused_goes_on() -> None:
    up = request("GET", "/ws", "Upgrade: websocket", "Connection: upgrade")
    accepted = parse([("orig", up + b"\x81\x05hello"),
                      ("resp", b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi")])  # fmt: skip
    assert [h.status for h in accepted.http] == [101]
    refused = parse([("orig", up + request("GET", "/next")),
                     ("resp", response(400, body=b"no") + response(200))])  # fmt: skip
    assert [(h.uri, h.status) for h in refused.http] == [("/ws", 400), ("/next", 200)]


def test_http09_request_and_response() -> None:
    facts = parse([("orig", b"GET /old.html\r\n"), ("resp", b"<html>old</html>")])
    (h,) = facts.http
    assert (h.method, h.uri, h.version, h.status, h.response_body_len) == (
        "GET", "/old.html", "0.9", None, 16)  # fmt: skip


def test_a_first_response_without_status_line_is_an_http09_body() -> None:
    facts = parse([("orig", request("GET", "/e.com")), ("resp", b"X5O!P%@AP no headers at all")])
    (h,) = facts.http
    assert (h.uri, h.status, h.response_body_len) == ("/e.com", None, 27)
    assert facts.files[0].data == b"X5O!P%@AP no headers at all"
    assert "http09_response" in h.problems


def test_a_folded_line_with_nothing_to_continue_is_a_field() -> None:
    wire = b"HTTP/1.1 200 ok\r\n Transfer-Encoding: chunked\r\n\r\n" + chunked(b"abcdefghij", 3)
    facts = parse([("orig", request()), ("resp", wire)])
    assert facts.files[0].data == b"abcdefghij"


def test_lenient_heads_are_read_and_their_deviations_named() -> None:
    wire = (b"GET  /a%20b   HTTP/1.1\nHost : portal\nX-Long: one\n two\nbroken line\n"
            b"Transfer-Encoding: chunked\nContent-Length: 3\n\n0\n\n")  # fmt: skip
    facts = parse([("orig", wire), ("resp", response())])
    (h,) = facts.http
    assert (h.uri, h.host) == ("/a%20b", "portal")
    assert {"space_before_colon", "obsolete_line_folding", "header_without_colon",
            "transfer_encoding_and_content_length"} <= set(h.problems)  # fmt: skip
    assert ("X-Long", "one two") in h.request_headers


def test_junk_between_requests_is_skipped_to_the_next_request() -> None:
    facts = parse([
        ("orig", request("GET", "/1") + b"\x00garbage\r\nmore garbage\r\n" + request("GET", "/2")),
        ("resp", response(body=b"a") + b"NOT HTTP\r\n" + response(body=b"b")),
    ])  # fmt: skip
    assert [(h.uri, h.status) for h in facts.http] == [("/1", 200), ("/2", 200)]
    assert "junk_before_request" in facts.http[0].problems + facts.http[1].problems


def test_a_request_after_junk_on_its_line_is_found() -> None:
    facts = parse([("orig", b"\x01\x02\x03 GET /txt HTTP/1.1\r\nHost: h\r\n\r\n"),
                   ("resp", response(body=b"ok"))])  # fmt: skip
    assert [(h.uri, h.status) for h in facts.http] == [("/txt", 200)]


def test_binary_first_bytes_are_not_http() -> None:
    p = HttpParser(FLOW, ParserLimits())
    with pytest.raises(ParserError):
        p.feed("orig", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n", 1, ContentFacts())


def test_a_gap_in_a_body_leaves_a_hole_and_a_gap_in_a_head_resyncs() -> None:
    facts = ContentFacts()
    p = HttpParser(FLOW, ParserLimits())
    p.feed("orig", request("GET", "/a"), 1, facts)
    p.feed("resp", response(body=b"A" * 30)[:-20], 2, facts)
    p.gap("resp", 10, 3, facts)
    p.feed("resp", b"B" * 10, 4, facts)
    p.feed("orig", b"GET /b HT", 5, facts)
    p.gap("orig", 40, 6, facts)
    p.feed("orig", request("GET", "/c"), 7, facts)
    p.feed("resp", response(body=b"c"), 8, facts)
    p.close(9, facts)
    assert [(h.uri, h.response_body_len) for h in facts.http] == [("/a", 30), ("/c", 1)]
    f = facts.files[0]
    assert (f.size, f.missing_bytes, f.data) == (30, 10, b"A" * 10 + bytes(10) + b"B" * 10)
    assert "body_gap" in facts.http[0].problems


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (("Transfer-Encoding: chunked",), "chunk_size_invalid"),
        (("Content-Length: -1",), "bad_content_length"),
        (("Content-Length: 99999999999999999999",), "bad_content_length"),
        (("Content-Length: 5", "Content-Length: 6"), "conflicting_content_length"),
    ],
)  # fmt: skip
def test_hostile_framing_is_named(headers: tuple[str, ...], problem: str) -> None:
    body = b"10000000000000000\r\nxx\r\n0\r\n\r\n" if "chunked" in headers[0] else b"abcdef"
    facts = parse([("orig", request("POST", "/x", *headers, body=body)), ("resp", response())])
    assert problem in facts.http[0].problems


def test_a_head_over_budget_is_given_up_without_holding_it() -> None:
    p = HttpParser(FLOW, ParserLimits())
    facts = ContentFacts()
    p.feed("orig", b"GET / HTTP/1.1\r\n", 1, facts)
    for _ in range(200):
        p.feed("orig", b"X-Pad: " + b"a" * 1000 + b"\r\n", 2, facts)
    assert len(p._req.head) <= 70 * 1024  # bounded, whatever is sent
    p.feed("orig", b"\r\n" + request("GET", "/after"), 3, facts)
    p.feed("resp", response(), 4, facts)
    p.close(5, facts)
    assert [h.uri for h in facts.http] == ["/after"]
    assert "head_too_long" in facts.http[0].problems


def test_header_count_and_line_budgets() -> None:
    limits = ParserLimits(max_headers=10, max_line=100)
    headers = [f"X-{i}: v" for i in range(50)] + ["X-Long: " + "a" * 500]
    facts = parse([("orig", request("GET", "/", *headers)), ("resp", response())], limits)
    (h,) = facts.http
    assert len(h.request_headers) == 10 and "too_many_headers" in h.problems


def test_transactions_per_connection_are_bounded() -> None:
    limits = ParserLimits(max_transactions=5)
    facts = parse([("orig", request() * 20), ("resp", response() * 20)], limits)
    assert len(facts.http) == 5


def test_unanswered_pipelined_requests_are_bounded() -> None:
    p = HttpParser(FLOW, ParserLimits())
    facts = ContentFacts()
    p.feed("orig", request() * 500, 1, facts)
    assert len(p._pending) <= 100 and len(facts.http) == 400
    assert "too_many_pending_requests" in facts.http[0].problems

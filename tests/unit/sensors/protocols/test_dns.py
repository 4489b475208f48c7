"""DNS messages: fields, names (compression, escapes, hostile pointers), pairing, EDNS."""

from __future__ import annotations

import dns.edns
import dns.message
import dns.rrset
import pytest

from sensors.events import ContentFacts, FlowRef
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.dns import DnsDatagramParser, DnsStreamParser, netbios_name
from sensors.protocols.dnswire import parse, read_name


def flow(port: int = 53) -> FlowRef:
    return FlowRef("f1", "1:x", "udp", "10.0.0.1", 40000, "10.0.0.53", port, 0, 0, "t.pcap")


def response(name: str = "www.city.example.", rdtype: str = "A", *rdatas: str) -> bytes:
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232, want_dnssec=True)
    r = dns.message.make_response(q)
    for text in rdatas or ("198.51.100.10",):
        r.answer.append(dns.rrset.from_text(name, 300, "IN", rdtype, text))
    return r.to_wire()


def test_header_question_and_answers() -> None:
    m = parse(response("www.city.example.", "A", "198.51.100.10", "198.51.100.11"))
    assert m.response and m.qname == "www.city.example" and m.qtype == 1 and m.qclass == 1
    assert [(r.data, r.ttl, r.section) for r in m.records] == [
        ("198.51.100.10", 300, "answer"), ("198.51.100.11", 300, "answer")]  # fmt: skip
    q = parse(dns.message.make_query("a.example.", "A", use_edns=0, payload=1232,
                                     want_dnssec=True).to_wire())  # fmt: skip
    assert (q.response, q.edns_udp_size, q.edns_do) == (False, 1232, True)


@pytest.mark.parametrize(
    ("rdtype", "text", "shown"),
    [
        ("AAAA", "2001:db8::1", "2001:db8::1"),
        ("CNAME", "portal.city.example.", "portal.city.example"),
        ("MX", "10 mail.city.example.", "10 mail.city.example"),
        ("TXT", '"v=spf1 -all" "two"', '"v=spf1 -all" "two"'),
        ("SRV", "10 20 5060 sip.city.example.", "10 20 5060 sip.city.example"),
        ("SOA", "ns1.city.example. admin.city.example. 7 2 3 4 5",
         "ns1.city.example admin.city.example 7 2 3 4 5"),
        ("HTTPS", '1 . alpn="h2,h3"', '1 . alpn="h2,h3"'),
        ("CAA", '0 issue "ca.example"', '0 issue "ca.example"'),
    ],
)  # fmt: skip
def test_record_types_in_presentation_format(rdtype: str, text: str, shown: str) -> None:
    assert parse(response("x.city.example.", rdtype, text)).records[0].data == shown


def test_a_compression_loop_is_an_error_not_a_hang() -> None:
    wire = bytearray(response())
    # Point the question name at itself.
    wire[12:14] = b"\xc0\x0c"
    with pytest.raises(ParserError, match="loop"):
        parse(bytes(wire))


def test_truncated_and_garbage_messages_are_parser_errors() -> None:
    with pytest.raises(ParserError):
        parse(b"\x00\x01\x02")
    with pytest.raises(ParserError):
        parse(response()[:20])
    with pytest.raises(ParserError):
        read_name(b"\x05ab", 0)


def test_binary_labels_are_escaped() -> None:
    name, end = read_name(b"\x03a.b\x02\x00\xff\x00", 0)
    assert name == "a\\.b.\\000\\255" and end == 8


def test_queries_pair_with_responses_and_leftovers_are_logged_unanswered() -> None:
    facts = ContentFacts()
    p = DnsDatagramParser(flow(), ParserLimits())
    q = dns.message.make_query("www.city.example.", "A")
    q2 = dns.message.make_query("lost.city.example.", "A")
    r = dns.message.make_response(q)
    r.answer.append(dns.rrset.from_text("www.city.example.", 60, "IN", "A", "198.51.100.10"))
    p.datagram("orig", q.to_wire(), 1_000, facts)
    p.datagram("orig", q2.to_wire(), 1_500, facts)
    p.datagram("resp", r.to_wire(), 4_000, facts)
    p.close(9_000, facts)
    assert [(d.query, d.rcode, d.rtt_ns) for d in facts.dns] == [
        ("www.city.example", "NOERROR", 3_000), ("lost.city.example", None, None)]  # fmt: skip
    assert facts.dns[0].answers[0].data == "198.51.100.10"


def test_dns_over_tcp_frames_messages_across_pieces() -> None:
    facts = ContentFacts()
    p = DnsStreamParser(flow(), ParserLimits())
    q = dns.message.make_query("www.city.example.", "A").to_wire()
    framed = len(q).to_bytes(2, "big") + q
    p.feed("orig", framed[:5], 1, facts)
    p.feed("orig", framed[5:], 2, facts)
    wire = response()
    p.feed("resp", len(wire).to_bytes(2, "big") + wire, 3, facts)
    assert [d.query for d in facts.dns] == ["www.city.example"]


def netbios_encode(name: bytes, suffix: int = 0) -> str:
    raw = name.ljust(15, b" ") + bytes([suffix])
    return "".join(chr(65 + (b >> 4)) + chr(65 + (b & 15)) for b in raw)


def test_netbios_names_are_decoded() -> None:
    assert netbios_name(netbios_encode(b"DIMN")) == "DIMN"
    assert netbios_name(netbios_encode(b"WORKGROUP", 0x1D) + ".local") == "WORKGROUP.local"
    assert netbios_name("not-encoded.example") == "not-encoded.example"

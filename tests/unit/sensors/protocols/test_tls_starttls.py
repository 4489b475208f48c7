"""StartTlsParser: TLS found after SMTP, IMAP, XMPP, PostgreSQL and RDP clear text."""

from __future__ import annotations

import pytest
from tlskit import Flights, flow, pieces, run, tls12_session

from sensors.events import ContentFacts
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.tls.starttls import MAX_CLEARTEXT, StartTlsParser


def upgraded(before: Flights, size: int = 1 << 20) -> ContentFacts:
    """The clear-text flights, then a TLS 1.2 session, in pieces of ``size``."""
    parser = StartTlsParser(flow(25), ParserLimits())
    return run(parser, pieces(before + tls12_session(), size))


SMTP: Flights = [
    ("resp", b"220 mail.city.example ESMTP\r\n"),
    ("orig", b"EHLO client.example\r\n"),
    ("resp", b"250-mail.city.example\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n"),
    ("orig", b"STARTTLS\r\n"),
    ("resp", b"220 2.0.0 Ready to start TLS\r\n"),
]


@pytest.mark.parametrize("size", [1, 4, 7, 1460, 1 << 20])
def test_smtp_starttls_in_any_piece_size(size: int) -> None:
    facts = upgraded(SMTP, size)
    (tls,) = facts.tls
    assert tls.server_name == "portal.city.example" and tls.version == "TLSv12"
    assert tls.established and len(facts.certificates) == 2


def test_the_hello_may_share_a_piece_with_the_clear_text() -> None:
    """Some clients pipeline: the ClientHello follows STARTTLS in the same segment."""
    tls = tls12_session()
    flights: Flights = [SMTP[0], ("orig", b"STARTTLS\r\n" + tls[0][1]),
                        ("resp", b"220 Go ahead\r\n" + tls[1][1]), *tls[2:]]  # fmt: skip
    facts = run(StartTlsParser(flow(25), ParserLimits()), flights)
    assert len(facts.tls) == 1 and facts.tls[0].established


@pytest.mark.parametrize(
    "before",
    [
        [("resp", b"* OK IMAP4rev1\r\n"), ("orig", b"a1 STARTTLS\r\n"), ("resp", b"a1 OK\r\n")],
        [("orig", b"<?xml version='1.0'?><stream:stream to='city.example'>"),
         ("resp", b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
         ("orig", b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
         ("resp", b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")],
        [("orig", bytes.fromhex("0000000804d2162f")), ("resp", b"S")],  # PostgreSQL SSLRequest
        [("orig", bytes.fromhex("030000130ee000000000000100080003000000")),  # RDP X.224 request
         ("resp", bytes.fromhex("030000130ed000001234000200080001000000"))],
    ],
    ids=["imap", "xmpp", "postgresql", "rdp"],
)  # fmt: skip
def test_other_protocols_that_switch_to_tls(before: Flights) -> None:
    (tls,) = upgraded(before).tls
    assert tls.server_name == "portal.city.example" and tls.established


def test_a_connection_that_never_switches_stops_the_parser() -> None:
    parser = StartTlsParser(flow(25), ParserLimits())
    facts = ContentFacts()
    parser.feed("resp", b"220 mail ESMTP\r\n", 0, facts)
    mail = b"DATA\r\n" + b"Dear citizen, ...\r\n" * 5000
    with pytest.raises(ParserError, match="no TLS hello in the first 65536 bytes \\(orig\\)"):
        for i in range(0, len(mail), 1460):
            parser.feed("orig", mail[i : i + 1460], i, facts)
    assert facts.tls == []


def test_the_other_direction_may_still_switch_once_one_has() -> None:
    parser = StartTlsParser(flow(25), ParserLimits())
    tls = tls12_session()
    facts = run(parser, [tls[0], ("resp", b"x" * (MAX_CLEARTEXT + 10)), *tls[1:]])
    assert facts.tls[0].server_name == "portal.city.example" and facts.tls[0].version is None


def test_a_gap_in_clear_text_does_not_stop_the_search() -> None:
    parser = StartTlsParser(flow(25), ParserLimits())
    facts = ContentFacts()
    parser.feed("orig", b"EHLO x\r\nSTART", 1, facts)
    parser.gap("orig", 100, 2, facts)
    facts.extend(run(parser, tls12_session()))
    assert [t.server_name for t in facts.tls] == ["portal.city.example"]
    assert facts.tls[0].problems == ()


def test_a_gap_after_the_switch_reaches_the_tls_parser() -> None:
    parser = StartTlsParser(flow(25), ParserLimits())
    facts = ContentFacts()
    tls = tls12_session()
    parser.feed("orig", b"STARTTLS\r\n" + tls[0][1], 1, facts)
    parser.feed("resp", b"220 Go ahead\r\n" + tls[1][1][:120], 2, facts)
    parser.gap("resp", 10, 3, facts)
    parser.gap("orig", 10, 4, facts)
    (seen,) = facts.tls
    assert seen.server_name == "portal.city.example" and seen.version == "TLSv12"
    assert {"gap_resp", "gap_orig"} <= set(seen.problems)

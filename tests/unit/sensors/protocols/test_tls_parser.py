"""TlsParser: records and handshake state, fed in pieces of any size, with hostile variants."""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tlskit import (
    ALERT,
    APPDATA,
    CCS,
    HANDSHAKE,
    TLS10,
    TLS13,
    Flights,
    app_data,
    browser_hello,
    certificate,
    chain,
    client_hello,
    ext,
    flow,
    handshake,
    pieces,
    record,
    records,
    run,
    server_hello,
    server_version,
    tls12_session,
    tls13_session,
    u16,
)

from sensors.events import ContentFacts
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.tls.hello import HELLO_RETRY_RANDOM
from sensors.protocols.tls.parser import MAX_CERTIFICATES, TlsParser
from sensors.protocols.tls.records import MAX_HANDSHAKE, MAX_RECORD


def parser() -> TlsParser:
    return TlsParser(flow(), ParserLimits())


def test_tls12_handshake_record_and_chain() -> None:
    facts = run(parser(), tls12_session())
    (tls,) = facts.tls
    leaf, ca = chain()
    assert tls.version == "TLSv12" and tls.client_version == "TLSv12"
    assert tls.cipher == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert tls.server_name == "portal.city.example"
    assert tls.alpn == ("h2", "http/1.1") and tls.alpn_selected == "h2"
    assert tls.established and not tls.resumed and tls.last_alert is None
    assert tls.ja4 is not None and tls.ja4.startswith("t13d1514h2_8daaf6152771_")
    assert tls.ja3 is not None and len(tls.ja3) == 32 and tls.ja3s is not None
    digests = tuple(hashlib.sha256(d).hexdigest() for d in (leaf, ca))
    assert tls.certificate_sha256 == digests and tls.problems == () and tls.ts_ns == 1
    assert [(c.position, c.chain_length, c.der, c.sha256, c.role, c.server_name)
            for c in facts.certificates] == [
        (0, 2, leaf, digests[0], "server", "portal.city.example"),
        (1, 2, ca, digests[1], "server", "portal.city.example"),
    ]  # fmt: skip


def test_the_record_comes_once_the_handshake_is_over_not_at_close() -> None:
    p = parser()
    facts = run(p, tls12_session()[:4], close=False)
    assert len(facts.tls) == 1 and facts.tls[0].established
    more = run(p, [("orig", app_data()), ("resp", b"not even TLS")])
    assert len(more.tls) == 0  # done: later bytes are not looked at, close adds nothing


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700))
def test_any_piece_size_gives_the_same_facts(size: int) -> None:
    whole = run(parser(), tls12_session(client_chain=chain()[:1]))
    cut = run(parser(), pieces(tls12_session(client_chain=chain()[:1]), size))
    assert [_strip(t) for t in cut.tls] == [_strip(t) for t in whole.tls]
    assert [c.sha256 for c in cut.certificates] == [c.sha256 for c in whole.certificates]


def _strip(t: object) -> tuple[object, ...]:
    """A TlsSeen without its timestamp (pieces change which call sees the first byte)."""
    fields = t.__slots__  # type: ignore[attr-defined]
    return tuple(getattr(t, f) for f in fields if f != "ts_ns")


def test_messages_spanning_records_and_sharing_one() -> None:
    hello = handshake(1, browser_hello())
    flight = handshake(2, server_hello(cipher=0x009C)) + handshake(11, certificate(chain()))
    flight += handshake(14, b"")
    flights: Flights = [
        ("orig", records(HANDSHAKE, hello, 7, TLS10)),  # a ClientHello in 7-byte records
        ("resp", records(HANDSHAKE, flight, 100)),  # three messages cut across records
        ("orig", record(CCS, b"\x01")),
        ("resp", record(CCS, b"\x01")),
    ]
    (tls,) = run(parser(), flights).tls
    assert (
        tls.server_name == "portal.city.example" and tls.cipher == "TLS_RSA_WITH_AES_128_GCM_SHA256"
    )
    assert len(tls.certificate_sha256) == 2 and tls.established


def test_tls13_version_from_supported_versions_and_no_certificates() -> None:
    p = parser()
    facts = run(p, tls13_session()[:2], close=False)
    assert facts.tls == []  # server encrypting, client not yet: compatibility CCS is not it
    facts = run(p, tls13_session()[2:])
    (tls,) = facts.tls
    assert tls.version == "TLSv13" and tls.cipher == "TLS_AES_128_GCM_SHA256"
    assert tls.established and tls.certificate_sha256 == () and facts.certificates == []


def test_hello_retry_request_then_the_real_server_hello() -> None:
    retry = server_hello(
        cipher=0x1302, random=HELLO_RETRY_RANDOM, extensions=[server_version(TLS13)]
    )
    real = server_hello(cipher=0x1302, extensions=[server_version(TLS13), ext(41, b"\x00\x00")])
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", record(HANDSHAKE, handshake(2, retry)) + record(CCS, b"\x01")),
        (
            "orig",
            record(CCS, b"\x01") + record(HANDSHAKE, handshake(1, browser_hello("b.example"))),
        ),
        ("resp", record(HANDSHAKE, handshake(2, real)) + app_data()),
        ("orig", app_data()),
    ]
    (tls,) = run(parser(), flights).tls
    assert tls.version == "TLSv13" and tls.cipher == "TLS_AES_256_GCM_SHA384"
    assert tls.server_name == "portal.city.example"  # the first ClientHello is fingerprinted
    assert tls.resumed  # the real ServerHello carries pre_shared_key
    assert tls.problems == ()  # a second ClientHello after a retry request is the protocol


def test_a_repeated_client_hello_before_any_server_hello_is_noted() -> None:
    hello = record(HANDSHAKE, handshake(1, browser_hello()), TLS10)
    (tls,) = run(parser(), [("orig", hello), ("orig", hello)]).tls
    assert "client_hello_repeated" in tls.problems


def test_abbreviated_handshake_is_resumed() -> None:
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", record(HANDSHAKE, handshake(2, server_hello())) + record(CCS, b"\x01")),
        ("orig", record(CCS, b"\x01")),
    ]
    (tls,) = run(parser(), flights).tls
    assert tls.resumed and tls.established and tls.certificate_sha256 == ()


def test_client_certificates_in_mutual_tls() -> None:
    _, ca = chain()
    facts = run(parser(), tls12_session(client_chain=[ca]))
    (tls,) = facts.tls
    assert tls.client_certificate_sha256 == (hashlib.sha256(ca).hexdigest(),)
    assert [(c.role, c.position) for c in facts.certificates] == [
        ("server", 0), ("server", 1), ("client", 0)]  # fmt: skip


def test_roles_come_from_the_messages_when_the_flow_has_them_reversed() -> None:
    flipped: Flights = [("resp" if d == "orig" else "orig", b) for d, b in tls12_session()]
    (tls,) = run(parser(), flipped).tls
    assert tls.server_name == "portal.city.example" and len(tls.certificate_sha256) == 2


def test_failed_handshake_reports_the_alert_at_close() -> None:
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", record(ALERT, b"\x02")),
        ("resp", record(ALERT, b"\x28")),  # the alert's two bytes arrive in two records
    ]
    p = parser()
    assert run(p, flights, close=False).tls == []
    (tls,) = run(p, []).tls
    assert tls.last_alert == "handshake_failure" and not tls.established and tls.version is None


def test_a_connection_picked_up_mid_stream_reports_nothing() -> None:
    assert run(parser(), [("orig", app_data()), ("resp", app_data())]).tls == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "orig record 1: not a TLS record"),
        (record(HANDSHAKE, b"", 0x0201), "version 0x0201"),
        (struct.pack("!BHH", APPDATA, 0x0303, MAX_RECORD + 1), "record_overflow"),
    ],
)
def test_bytes_that_are_not_tls_stop_the_parser_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(ParserError, match=message):
        run(parser(), [("orig", data)])


def test_a_violation_after_the_hello_still_reports_what_was_seen() -> None:
    p = parser()
    facts = ContentFacts()
    p.feed("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10), 1, facts)
    with pytest.raises(ParserError):
        p.feed("resp", b"\x00" * 10, 2, facts)
    assert [t.server_name for t in facts.tls] == ["portal.city.example"]


def test_malformed_client_hello_is_a_violation() -> None:
    with pytest.raises(ParserError, match="ClientHello: random"):
        run(parser(), [("orig", record(HANDSHAKE, handshake(1, b"\x03\x03abc")))])


def test_oversized_handshake_message_is_dropped_counted_and_skipped() -> None:
    big = handshake(99, bytes(MAX_HANDSHAKE + 1))
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", records(HANDSHAKE, big + handshake(2, server_hello()), 16384)),
        ("orig", record(CCS, b"\x01")),
        ("resp", record(CCS, b"\x01")),
    ]
    (tls,) = run(parser(), pieces(flights, 1000)).tls
    assert tls.cipher == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"  # the message after it counts
    assert "handshake_message_too_large" in tls.problems


def test_buffers_stay_bounded_whatever_the_pieces() -> None:
    """A handshake message that never completes holds at most MAX_HANDSHAKE + 4 bytes, fed one
    byte at a time; a record header cut anywhere holds under 5."""
    p = parser()
    facts = ContentFacts()
    partial = records(HANDSHAKE, handshake(11, bytes(MAX_HANDSHAKE)), 16384)[: MAX_HANDSHAKE - 10]
    for i in range(0, len(partial), 1):
        p.feed("resp", partial[i : i + 1], 1, facts)
        assert len(p._resp.message) <= MAX_HANDSHAKE + 4 and len(p._resp.header) < 5
    assert len(p._resp.message) > MAX_HANDSHAKE - 1000  # it did wait for the rest


def test_messages_not_read_are_never_held() -> None:
    """A 60 KiB ServerKeyExchange fed byte by byte is passed over; the ServerHello after it is
    still read."""
    p = parser()
    facts = ContentFacts()
    p.feed("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10), 1, facts)
    flight = records(HANDSHAKE, handshake(12, bytes(60_000)) + handshake(2, server_hello()), 16384)
    for i in range(len(flight)):
        p.feed("resp", flight[i : i + 1], 2, facts)
        assert len(p._resp.message) < 200
    p.close(3, facts)
    assert facts.tls[0].cipher == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"


def test_too_many_certificates_keeps_the_first_ones() -> None:
    leaf, _ = chain()
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", records(HANDSHAKE, handshake(2, server_hello()) +
                         handshake(11, certificate([leaf] * (MAX_CERTIFICATES + 5))), 16384)),
    ]  # fmt: skip
    facts = run(parser(), flights)
    assert len(facts.certificates) == MAX_CERTIFICATES
    assert {c.chain_length for c in facts.certificates} == {MAX_CERTIFICATES}
    assert "too_many_certificates" in facts.tls[0].problems


def test_certificate_list_lengths_that_lie() -> None:
    leaf, ca = chain()
    body = certificate([leaf, ca])
    lying = (len(body) + 50).to_bytes(3, "big") + body[3:]  # list claims more than there is
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello()), TLS10)),
        ("resp", records(HANDSHAKE, handshake(11, lying) + handshake(2, server_hello()), 16384)),
    ]
    facts = run(parser(), flights)
    assert len(facts.certificates) == 2 and "malformed_certificate_list" in facts.tls[0].problems
    cut_short = body[:-10]
    cut_short = (len(cut_short) - 3).to_bytes(3, "big") + cut_short[3:]
    facts = run(
        parser(), [flights[0], ("resp", records(HANDSHAKE, handshake(11, cut_short), 16384))]
    )
    assert len(facts.certificates) == 1 and "truncated_certificate" in facts.tls[0].problems


def test_a_gap_stops_one_direction_and_the_other_goes_on() -> None:
    p = parser()
    facts = ContentFacts()
    flights = tls12_session()
    p.feed("orig", flights[0][1], 1, facts)
    p.gap("resp", 1000, 2, facts)
    p.feed("resp", flights[1][1], 3, facts)  # not looked at: the direction is lost
    p.gap("orig", 10, 4, facts)
    (tls,) = facts.tls  # both directions lost: reported now
    assert tls.server_name == "portal.city.example" and tls.version is None
    assert {"gap_resp", "gap_orig"} <= set(tls.problems)


def test_sslv2_compatible_client_hello_then_tls() -> None:
    specs = bytes.fromhex("00002f 000035 010080")
    msg = b"\x01" + struct.pack("!HHHH", 0x0301, len(specs), 0, 16) + specs + bytes(16)
    v2 = struct.pack("!H", 0x8000 | len(msg)) + msg
    flights: Flights = [
        ("orig", v2),
        ("resp", record(HANDSHAKE, handshake(2, server_hello(version=TLS10, cipher=0x2F)))),
        ("orig", record(CCS, b"\x01")),
        ("resp", record(CCS, b"\x01")),
    ]
    (tls,) = run(parser(), pieces(flights, 3)).tls
    assert tls.client_version == "TLSv10" and tls.version == "TLSv10"
    assert tls.cipher == "TLS_RSA_WITH_AES_128_CBC_SHA" and tls.ja3 is None and tls.ja4 is None
    assert "sslv2_client_hello" in tls.problems


def test_sslv2_server_hello_with_its_certificate() -> None:
    leaf, _ = chain()
    specs = bytes.fromhex("010080")
    client = b"\x01" + struct.pack("!HHHH", 0x0002, 3, 0, 16) + specs + bytes(16)
    server = b"\x04\x00\x01" + struct.pack("!HHHH", 0x0002, len(leaf), 3, 16) + leaf + specs
    server += bytes(16)
    flights: Flights = [("orig", struct.pack("!H", 0x8000 | len(client)) + client),
                        ("resp", struct.pack("!H", 0x8000 | len(server)) + server)]  # fmt: skip
    facts = run(parser(), flights, close=False)
    (tls,) = facts.tls
    assert tls.version == "SSLv2" and tls.client_version == "SSLv2"
    assert [c.der for c in facts.certificates] == [leaf]


def test_an_sslv2_record_that_is_not_a_hello_is_a_violation() -> None:
    with pytest.raises(ParserError, match=r"SSL 2\.0 record"):
        run(parser(), [("orig", b"\x80\x03\x02\x00\x00")])


def test_heartbeat_is_noted() -> None:
    flights = [*tls12_session()[:2], ("orig", record(24, b"\x01\x40\x00"))]
    (tls,) = run(parser(), flights).tls
    assert "heartbeat" in tls.problems


def test_empty_server_name_extension_and_unknown_versions() -> None:
    hello = client_hello(version=0x7E01, extensions=[ext(0, u16(b""))])
    flights: Flights = [
        ("orig", record(HANDSHAKE, handshake(1, hello))),
        (
            "resp",
            record(HANDSHAKE, handshake(2, server_hello(extensions=[server_version(0x7F17)]))),
        ),
    ]
    (tls,) = run(parser(), flights).tls
    assert tls.client_version == "unknown-32257" and tls.version == "TLSv13-draft23"
    assert tls.server_name is None and tls.ja4 is not None and tls.ja4[3] == "d"

"""Fuzz the TLS parsers: random bytes and mutated real handshakes, cut in random pieces, must give
facts or a ``ParserError`` and nothing else, with every buffer inside its bound; certificates that
are mutated DER must still become x509 documents (a parse error is a fact, not an exception)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from fuzzkit import FUZZ, edits, mutate
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "sensors"))
from tlskit import RFC_CLIENT_INITIAL, RFC_SERVER_INITIAL, chain, flow, tls12_session, tls13_session

from sensors.events import CertificateSeen, ContentFacts, Direction, FlowRef
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.ecs import tls_document, x509_document
from sensors.protocols.tls.hello import (
    parse_client_hello,
    parse_server_hello,
    parse_sslv2_client_hello,
)
from sensors.protocols.tls.parser import MAX_CERTIFICATES, TlsParser
from sensors.protocols.tls.quic import MAX_CRYPTO, QuicParser
from sensors.protocols.tls.records import MAX_HANDSHAKE, MAX_SSLV2_RECORD
from sensors.protocols.tls.starttls import StartTlsParser

SEEDS = [tls12_session(client_chain=chain()[:1]), tls13_session()]
sizes = st.integers(1, 2000)


def drive(parser: TlsParser | StartTlsParser, flights: list[tuple[Direction, bytes]],
          size: int) -> ContentFacts:  # fmt: skip
    """Feed as the content stage does: a ParserError stops the parser, then nothing more."""
    facts = ContentFacts()
    try:
        for ts, (direction, data) in enumerate(flights, start=1):
            for i in range(0, len(data), size):
                parser.feed(direction, data[i : i + size], ts, facts)
                check_bounds(parser)
        parser.close(10_000, facts)
    except ParserError:
        pass
    assert len(facts.tls) <= 1
    assert len(facts.certificates) <= 2 * MAX_CERTIFICATES
    for t in facts.tls:
        tls_document(t, "fuzz")
    return facts


def check_bounds(parser: TlsParser | StartTlsParser) -> None:
    tls = parser.tls if isinstance(parser, StartTlsParser) else parser
    for reader in (tls._orig, tls._resp):
        assert len(reader.message) <= MAX_HANDSHAKE + 4
        assert len(reader.header) < 5
        assert reader.v2 is None or len(reader.v2) <= MAX_SSLV2_RECORD + 2 + 2000


@FUZZ
@given(st.binary(max_size=3000), st.binary(max_size=3000), sizes)
def test_random_bytes(orig: bytes, resp: bytes, size: int) -> None:
    drive(TlsParser(flow(), ParserLimits()), [("orig", orig), ("resp", resp)], size)
    drive(StartTlsParser(flow(25), ParserLimits()), [("orig", orig), ("resp", resp)], size)


@FUZZ
@given(st.sampled_from(range(len(SEEDS))), st.integers(0, 5), edits,
       st.none() | st.integers(0, 4000), sizes)  # fmt: skip
def test_mutated_handshakes(seed: int, which: int, changes: list[tuple[int, int]],
                            cut: int | None, size: int) -> None:  # fmt: skip
    flights = list(SEEDS[seed])
    which %= len(flights)
    direction, data = flights[which]
    flights[which] = (direction, mutate(data, changes, cut))
    drive(TlsParser(flow(), ParserLimits()), flights, size)
    drive(StartTlsParser(flow(25), ParserLimits()), [("orig", b"STARTTLS\r\n"), *flights], size)


@FUZZ
@given(st.binary(max_size=600))
def test_hello_parsers(body: bytes) -> None:
    for parse in (parse_client_hello, parse_server_hello, parse_sslv2_client_hello):
        with contextlib.suppress(ParserError):
            parse(body)


REF = FlowRef("f", "1:x", "tcp", "10.0.0.1", 1, "10.0.0.2", 443, 0, 0, "fuzz")


@FUZZ
@given(st.sampled_from(chain()), edits, st.none() | st.integers(0, 1000))
def test_mutated_certificates_become_documents(der: bytes, changes: list[tuple[int, int]],
                                               cut: int | None) -> None:  # fmt: skip
    bad = mutate(der, changes, cut)
    doc = x509_document(CertificateSeen(REF, 0, bad, "00" * 32, 0, 1, None), "fuzz")
    assert "x509" in doc and isinstance(doc["cityshield"]["x509"]["problems"], list)


def drive_quic(datagrams: list[tuple[Direction, bytes]]) -> None:
    parser = QuicParser(flow(443), ParserLimits())
    facts = ContentFacts()
    for ts, (direction, data) in enumerate(datagrams, start=1):
        # A violation is counted by the content stage, which goes on with the next datagram.
        with contextlib.suppress(ParserError):
            parser.datagram(direction, data, ts, facts)
        for crypto in parser._crypto.values():
            assert crypto.size <= MAX_CRYPTO
    parser.close(0, facts)
    assert len(facts.tls) <= 1


@FUZZ
@given(st.lists(st.binary(max_size=1500), max_size=4))
def test_quic_random_datagrams(datagrams: list[bytes]) -> None:
    drive_quic([("orig" if i % 2 == 0 else "resp", d) for i, d in enumerate(datagrams)])


@FUZZ
@given(st.booleans(), edits, st.none() | st.integers(0, 1300))
def test_quic_mutated_initials(server: bool, changes: list[tuple[int, int]],
                               cut: int | None) -> None:  # fmt: skip
    client, answer = RFC_CLIENT_INITIAL, RFC_SERVER_INITIAL
    if server:
        answer = mutate(answer, changes, cut)
    else:
        client = mutate(client, changes, cut)
    drive_quic([("orig", client), ("resp", answer)])

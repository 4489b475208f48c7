"""TLS over TCP: the handshake in clear, one ``TlsSeen`` per connection, and each certificate of a
TLS 1.2-or-older chain as a ``CertificateSeen`` (TLS 1.3 encrypts them).

The record is emitted once the handshake's visible part is over (both directions have started
encrypting: ChangeCipherSpec in TLS 1.2 and older, application-data records in TLS 1.3), or at
close, or before the parser gives up on bytes that are not TLS. After that ``feed`` returns at
once, so a bulk HTTPS transfer costs one call per reassembled piece.

Roles come from the messages, not from the flow's direction: the side that sends the ClientHello
is the client (a capture that starts after the SYN may have guessed the originator wrong).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from sensors.events import CertificateSeen, ContentFacts, Direction, FlowRef, TlsSeen
from sensors.protocols.base import ParserError, ParserLimits, StreamParser
from sensors.protocols.tls.fingerprint import ja3, ja3s, ja4
from sensors.protocols.tls.hello import (
    ClientHello,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
    parse_sslv2_client_hello,
)
from sensors.protocols.tls.records import CHANGE_CIPHER_SPEC, RecordReader
from sensors.protocols.tls.suites import alert_name, cipher_name, version_name

CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = 1, 2, 11
SSLV2_CLIENT_HELLO, SSLV2_SERVER_HELLO = 1, 4
TLS13 = 0x0304
PRE_SHARED_KEY = 41
#: Certificates kept from one chain (real chains have 2 to 4; the rest are counted, not parsed).
MAX_CERTIFICATES = 16
MAX_PROBLEMS = 16


class TlsParser(StreamParser):
    id = "tls"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._orig = RecordReader("orig", self)
        self._resp = RecordReader("resp", self)
        self._client: ClientHello | None = None
        self._server: ServerHello | None = None
        self._client_side: Direction | None = None
        self._sslv2_server = False
        self._chains: dict[str, tuple[str, ...]] = {}  # role -> sha256 of each certificate
        self._certificates: list[CertificateSeen] = []  # parsed, not yet handed out
        self._alert: str | None = None
        self._early_ccs: bool = False  # the server's ChangeCipherSpec came first: resumed
        self._ts = 0
        self._now = 0
        self._done = False

    # -- StreamParser --------------------------------------------------------------------------
    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        if self._done:
            return
        reader = self._orig if direction == "orig" else self._resp
        if reader.lost:
            return
        self._ts = self._ts or ts_ns
        self._now = ts_ns
        try:
            reader.feed(data)
        except ParserError:
            self._finish(facts)
            raise
        if self._certificates:
            facts.certificates += self._certificates
            self._certificates = []
        if (self._orig.encrypted and self._resp.encrypted) or self._sslv2_server:
            self._finish(facts)

    def gap(self, direction: Direction, size: int, ts_ns: int, facts: ContentFacts) -> None:
        """Bytes missing: that direction's records can no longer be found (TLS has no markers
        to resynchronise on); the other direction is still followed."""
        if self._done:
            return
        reader = self._orig if direction == "orig" else self._resp
        if not reader.encrypted:
            self.problem(f"gap_{direction}")
        reader.lost = True
        if self._orig.lost and self._resp.lost:
            self._finish(facts)

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        self._finish(facts)

    # -- RecordSink ----------------------------------------------------------------------------
    def handshake_message(self, reader: RecordReader, msg_type: int, body: bytes) -> None:
        side = reader.direction
        if msg_type == CLIENT_HELLO:
            if self._client is None:
                self._client = parse_client_hello(body)
                self._client_side = side
            elif side == self._client_side and self._server is None:
                self.problem("client_hello_repeated")
        elif msg_type == SERVER_HELLO and side != self._client_side:
            hello = parse_server_hello(body)
            if self._server is None or self._server.retry:
                self._server = hello  # after a HelloRetryRequest, the real ServerHello
        elif msg_type == CERTIFICATE:
            role: Literal["server", "client"] = "client" if side == self._client_side else "server"
            if role not in self._chains:
                self._chain(role, body)

    def sslv2_message(self, reader: RecordReader, body: bytes) -> None:
        if body[:1] == bytes([SSLV2_CLIENT_HELLO]) and self._client is None:
            self._client = parse_sslv2_client_hello(body)
            self._client_side = reader.direction
            self.problem("sslv2_client_hello")
        elif body[:1] == bytes([SSLV2_SERVER_HELLO]) and reader.direction != self._client_side:
            self._sslv2_server_hello(body)
        else:
            raise ParserError(f"{reader.direction}: an SSL 2.0 record that is not a hello")

    def protection_started(self, reader: RecordReader, content_type: int) -> None:
        if content_type == CHANGE_CIPHER_SPEC:
            if self._server is not None and self._server.negotiated == TLS13:
                return  # RFC 8446 appendix D.4: a compatibility no-op, records stay in clear
            other = self._orig if reader is self._resp else self._resp
            if reader.direction != self._client_side and not other.encrypted:
                self._early_ccs = True  # RFC 5246 7.3: the abbreviated handshake
        reader.encrypted = True

    def alert(self, reader: RecordReader, level: int, description: int) -> None:
        self._alert = alert_name(description)

    def problem(self, name: str) -> None:
        if name not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(name)

    # -- messages ------------------------------------------------------------------------------
    def _chain(self, role: Literal["server", "client"], body: bytes) -> None:
        """A TLS 1.2-or-older Certificate message (RFC 5246 section 7.4.2): a 24-bit list length,
        then each DER certificate with a 24-bit length, the sender's own first."""
        if len(body) < 3:
            raise ParserError("Certificate: shorter than its list length")
        end = 3 + int.from_bytes(body[:3], "big")
        if end != len(body):
            self.problem("malformed_certificate_list")
            end = min(end, len(body))
        ders: list[bytes] = []
        pos = 3
        while pos + 3 <= end:
            size = int.from_bytes(body[pos : pos + 3], "big")
            der = body[pos + 3 : pos + 3 + size]
            if len(der) < size or pos + 3 + size > end:
                self.problem("truncated_certificate")
                break
            if len(ders) == MAX_CERTIFICATES:
                self.problem("too_many_certificates")
                break
            ders.append(der)
            pos += 3 + size
        self._emit_chain(role, ders)

    def _emit_chain(self, role: Literal["server", "client"], ders: list[bytes]) -> None:
        hashes = tuple(hashlib.sha256(der).hexdigest() for der in ders)
        self._chains[role] = hashes
        name = self._client.server_name if self._client is not None else None
        self._certificates += [
            CertificateSeen(self.flow, self._now, der, digest, i, len(ders), name, role)
            for i, (der, digest) in enumerate(zip(ders, hashes, strict=True))
        ]

    def _sslv2_server_hello(self, body: bytes) -> None:
        """SSL 2.0 SERVER-HELLO: session-id-hit, certificate type, version, then the lengths of
        the certificate, cipher specs and connection id, then those fields. What follows is
        encrypted, so the visible handshake ends here."""
        if len(body) < 11:
            raise ParserError("SSLv2 SERVER-HELLO: shorter than its header")
        cert_len = int.from_bytes(body[5:7], "big")
        der = body[11 : 11 + cert_len]
        self._sslv2_server = True
        if len(der) == cert_len and cert_len:
            self._emit_chain("server", [der])

    # -- the record ----------------------------------------------------------------------------
    def _finish(self, facts: ContentFacts) -> None:
        if self._done:
            return
        self._done = True
        if self._certificates:
            facts.certificates += self._certificates
            self._certificates = []
        client, server = self._client, self._server
        if client is None and server is None and not self._sslv2_server:
            return  # nothing of a handshake seen (a connection picked up in the middle)
        problems = list(client.problems if client else ()) + list(server.problems if server else ())
        for p in self.problems:
            if p not in problems:
                problems.append(p)
        version = None
        if server is not None:
            version = version_name(server.negotiated)
        elif self._sslv2_server:
            version = "SSLv2"
        resumed = self._early_ccs or bool(
            server is not None and PRE_SHARED_KEY in server.extensions
        )
        facts.tls.append(
            TlsSeen(
                flow=self.flow,
                ts_ns=self._ts,
                version=version,
                client_version=version_name(client.version) if client else None,
                server_name=client.server_name if client else None,
                alpn=tuple(a.decode("utf-8", "backslashreplace") for a in client.alpn)
                if client
                else (),
                cipher=cipher_name(server.cipher) if server else None,
                ja3=ja3(client) if client else None,
                ja3s=ja3s(server) if server else None,
                ja4=ja4(client) if client else None,
                certificate_sha256=self._chains.get("server", ()),
                established=self._orig.encrypted and self._resp.encrypted,
                alpn_selected=server.alpn.decode("utf-8", "backslashreplace")
                if server and server.alpn is not None
                else None,
                resumed=resumed,
                last_alert=self._alert,
                client_certificate_sha256=self._chains.get("client", ()),
                problems=tuple(problems[:MAX_PROBLEMS]),
            )
        )

"""TLS that starts after a clear-text exchange on the same connection: SMTP, IMAP and POP3
STARTTLS/STLS (RFC 3207, RFC 2595), FTP AUTH TLS (RFC 4217), XMPP ``<starttls/>`` (RFC 6120
section 5), IRC and NNTP STARTTLS, LDAP StartTLS (RFC 4511 section 4.14), PostgreSQL's
SSLRequest, MySQL's SSL request and RDP's negotiated TLS (MS-RDPBCGR section 5.4.5).

Rather than a clear-text parser per protocol, each direction is searched for where a TLS hello
record begins (the 11 bytes of a record header, a ClientHello or ServerHello header and a 3.x
version, with their lengths in range: Zeek's dynamic protocol detection uses the same kind of
signature); from there on that direction's bytes go to a ``TlsParser``. A direction that shows no
hello within ``MAX_CLEARTEXT`` bytes stops this parser (unless the other direction has already
switched). The search is one regular expression over each piece (C speed).

The content stage needs no change for this: the connection's parser is this one from the start,
and it hands the bytes on itself.
"""

from __future__ import annotations

import re

from sensors.events import ContentFacts, Direction, FlowRef
from sensors.protocols.base import ParserError, ParserLimits, StreamParser
from sensors.protocols.tls.parser import TlsParser

#: Clear text searched per direction before giving up (a STARTTLS comes within the first
#: exchanges; mail bodies and query results after it are not searched).
MAX_CLEARTEXT = 64 * 1024
#: A handshake record (type 22, version 3.0-3.4, length up to 0x48ff) starting a ClientHello or
#: ServerHello (type 1 or 2, length under 128 KiB) whose own version is 3.0-3.4.
_HELLO = re.compile(rb"\x16\x03[\x00-\x04][\x00-\x48].[\x01\x02][\x00\x01]..\x03[\x00-\x04]", re.S)
_KEEP = 10  # bytes kept from the end of a piece: a hello header may be cut between pieces


class StartTlsParser(StreamParser):
    id = "starttls"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self.tls = TlsParser(flow, limits)
        self.problems = self.tls.problems
        self._switched: dict[str, bool] = {"orig": False, "resp": False}
        self._tail: dict[str, bytes] = {"orig": b"", "resp": b""}
        self._searched: dict[str, int] = {"orig": 0, "resp": 0}

    def feed(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        if self._switched[direction]:
            self.tls.feed(direction, data, ts_ns, facts)
            return
        searched = self._searched[direction]
        if searched >= MAX_CLEARTEXT:
            return
        tail = self._tail[direction]
        text = tail + data[: MAX_CLEARTEXT - searched]
        found = _HELLO.search(text)
        if found is None:
            self._searched[direction] = searched + len(text) - len(tail)
            self._tail[direction] = text[-_KEEP:]
            if self._searched[direction] >= MAX_CLEARTEXT and not any(self._switched.values()):
                # The client starts TLS early in the exchange; 64 KiB of clear text on either
                # side without a hello means this connection is not going to.
                raise ParserError(f"no TLS hello in the first {MAX_CLEARTEXT} bytes ({direction})")
            return
        self._switched[direction] = True
        self._tail[direction] = b""
        start = found.start() - len(tail)  # where TLS begins in ``data`` (may be in the tail)
        rest = data[start:] if start >= 0 else tail[start:] + data
        self.tls.feed(direction, rest, ts_ns, facts)

    def gap(self, direction: Direction, size: int, ts_ns: int, facts: ContentFacts) -> None:
        if self._switched[direction]:
            self.tls.gap(direction, size, ts_ns, facts)
        else:
            self._tail[direction] = b""  # clear text lost: search on from the next bytes

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        self.tls.close(ts_ns, facts)

"""The built-in protocol parsers, and how a connection's protocol is recognised.

Recognition looks at the first bytes first (like Zeek's dynamic protocol detection: HTTP on port
8000 or TLS on port 5222 are still found) and falls back to well-known ports. Parsers are listed
explicitly; third-party ones can be added by id.
"""

from __future__ import annotations

import re

from sensors.events import Direction
from sensors.protocols.base import DatagramParser, StreamParser
from sensors.protocols.dns import DnsDatagramParser, DnsStreamParser
from sensors.protocols.http import HttpParser
from sensors.protocols.ssh import SshParser
from sensors.protocols.tls import QuicParser, StartTlsParser, TlsParser

STREAM_PARSERS: dict[str, type[StreamParser]] = {
    "dns": DnsStreamParser, "ssh": SshParser, "tls": TlsParser, "starttls": StartTlsParser,
    "http": HttpParser,
}  # fmt: skip
DATAGRAM_PARSERS: dict[str, type[DatagramParser]] = {"dns": DnsDatagramParser, "quic": QuicParser}


def register_stream(parser: type[StreamParser]) -> None:
    if parser.id in STREAM_PARSERS and STREAM_PARSERS[parser.id] is not parser:
        raise ValueError(f"two stream parsers share the id {parser.id!r}")
    STREAM_PARSERS[parser.id] = parser


_HTTP_REQUEST = re.compile(
    rb"(?:GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND|PROPPATCH|MKCOL|COPY|"
    rb"MOVE|LOCK|UNLOCK|SEARCH|REPORT|QUERY) [\x21-\x7e]"
)
STREAM_PORTS = {
    22: "ssh", 53: "dns", 80: "http", 81: "http", 591: "http", 3128: "http", 8000: "http",
    8008: "http", 8080: "http", 8081: "http", 8888: "http",
    443: "tls", 465: "tls", 563: "tls", 636: "tls", 853: "tls", 989: "tls", 990: "tls",
    992: "tls", 993: "tls", 994: "tls", 995: "tls", 5061: "tls", 8443: "tls",
    # Clear text first, then TLS on the same connection (sensors.protocols.tls.starttls): FTP,
    # SMTP, POP3, NNTP, IMAP, LDAP, submission, MySQL, RDP, ManageSieve, XMPP, PostgreSQL, IRC.
    21: "starttls", 25: "starttls", 110: "starttls", 119: "starttls", 143: "starttls",
    389: "starttls", 587: "starttls", 3306: "starttls", 3389: "starttls", 4190: "starttls",
    5222: "starttls", 5269: "starttls", 5432: "starttls", 6667: "starttls",
}  # fmt: skip
#: Two-byte record header, CLIENT-HELLO (1), then version 2.0 or 3.0-3.3.
_SSLV2_HELLO = re.compile(rb"[\x80-\xff].\x01(?:\x00\x02|\x03[\x00-\x03])", re.S)
#: NetBIOS name service (137) speaks DNS's message format (RFC 1002 section 4.2); QUIC runs on 443
#: (HTTP/3) and 853 (DNS over QUIC, RFC 9250).
DATAGRAM_PORTS = {53: "dns", 137: "dns", 5353: "dns", 5355: "dns", 443: "quic", 853: "quic"}


def sniff(direction: Direction, head: bytes) -> str | None:
    """The protocol the first bytes of a direction look like, if any."""
    if head.startswith(b"SSH-"):
        return "ssh"
    if len(head) >= 3 and head[0] == 0x16 and head[1] == 0x03 and head[2] <= 0x04:
        return "tls"  # a TLS handshake record (SSL 3.0 to TLS 1.3 record versions)
    if direction == "orig" and _SSLV2_HELLO.match(head):
        return "tls"  # an SSL 2.0-format CLIENT-HELLO (RFC 6101 appendix E.1)
    if direction == "orig" and _HTTP_REQUEST.match(head[:24]):
        return "http"
    if direction == "resp" and head.startswith(b"HTTP/1."):
        return "http"
    return None


def stream_protocol(
    direction: Direction, head: bytes, orig_port: int, resp_port: int
) -> str | None:
    """The parser id for a connection whose first payload is ``head`` (None: no parser)."""
    found = sniff(direction, head) or STREAM_PORTS.get(resp_port)
    return found if found in STREAM_PARSERS else None


def datagram_protocol(orig_port: int, resp_port: int) -> str | None:
    found = DATAGRAM_PORTS.get(resp_port) or DATAGRAM_PORTS.get(orig_port)
    return found if found in DATAGRAM_PARSERS else None

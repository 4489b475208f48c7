"""TLS wire builders for tests: extensions, hellos, certificate chains, records and whole sessions
(RFC 8446, RFC 5246), written out byte by byte so that tests can also build malformed ones."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sensors.events import ContentFacts, Direction, FlowRef
from sensors.protocols.base import StreamParser

CCS, ALERT, HANDSHAKE, APPDATA = 20, 21, 22, 23
TLS10, TLS12, TLS13 = 0x0301, 0x0303, 0x0304
CHROME_CIPHERS = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,
                  0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035)  # fmt: skip
CHROME_SIGALGS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def u8(data: bytes) -> bytes:
    return struct.pack("!B", len(data)) + data


def u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def shorts(values: Iterable[int]) -> bytes:
    return b"".join(struct.pack("!H", v) for v in values)


def ext(kind: int, body: bytes = b"") -> bytes:
    return struct.pack("!H", kind) + u16(body)


def sni(name: str) -> bytes:
    return ext(0, u16(b"\x00" + u16(name.encode())))


def alpn(*protocols: bytes) -> bytes:
    return ext(16, u16(b"".join(u8(p) for p in protocols)))


def groups(*values: int) -> bytes:
    return ext(10, u16(shorts(values)))


def point_formats(*values: int) -> bytes:
    return ext(11, u8(bytes(values)))


def sigalgs(*values: int) -> bytes:
    return ext(13, u16(shorts(values)))


def client_versions(*values: int) -> bytes:
    return ext(43, u8(shorts(values)))


def server_version(value: int) -> bytes:
    return ext(43, struct.pack("!H", value))


def client_hello(
    *,
    version: int = TLS12,
    ciphers: Sequence[int] = (0xC02F, 0xC030, 0x009C),
    extensions: Sequence[bytes] | None = None,
    session_id: bytes = b"",
    compression: bytes = b"\x00",
) -> bytes:
    """A ClientHello body; ``extensions=None`` leaves the extensions block out entirely."""
    body = struct.pack("!H", version) + bytes(range(32)) + u8(session_id)
    body += u16(shorts(ciphers)) + u8(compression)
    if extensions is not None:
        body += u16(b"".join(extensions))
    return body


def server_hello(
    *, version: int = TLS12, cipher: int = 0xC02F, extensions: Sequence[bytes] = (),
    session_id: bytes = b"", random: bytes = bytes(32),
) -> bytes:  # fmt: skip
    body = struct.pack("!H", version) + random + u8(session_id) + struct.pack("!HB", cipher, 0)
    return body + u16(b"".join(extensions))


def certificate(ders: Sequence[bytes]) -> bytes:
    return u24(b"".join(u24(d) for d in ders))


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + u24(body)


def record(content_type: int, body: bytes, version: int = TLS12) -> bytes:
    return struct.pack("!BH", content_type, version) + u16(body)


def records(content_type: int, data: bytes, size: int, version: int = TLS12) -> bytes:
    """``data`` cut into records of ``size`` bytes (handshake messages spanning records)."""
    return b"".join(record(content_type, data[i : i + size], version)
                    for i in range(0, len(data), size))  # fmt: skip


def app_data(size: int = 40) -> bytes:
    return record(APPDATA, bytes(size))


@cache
def chain() -> tuple[bytes, bytes]:
    """A leaf for portal.city.example and the CA that issued it, DER, the same on every call."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    ca_key = ec.derive_private_key(1234567, ec.SECP256R1())
    leaf_key = ec.derive_private_key(7654321, ec.SECP256R1())
    ca_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "City CA"),
        x509.NameAttribute(NameOID.COMMON_NAME, "City Root"),
    ])  # fmt: skip
    leaf_name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.STREET_ADDRESS, "1 Civic Square"),
        x509.NameAttribute(NameOID.COMMON_NAME, "portal.city.example"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "pki@city.example"),
    ])  # fmt: skip
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder().subject_name(leaf_name).issuer_name(ca_name)
        .public_key(leaf_key.public_key()).serial_number(0x1234)
        .not_valid_before(now).not_valid_after(now + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("portal.city.example")]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    der = serialization.Encoding.DER
    return leaf.public_bytes(der), ca.public_bytes(der)


def browser_hello(name: str | None = "portal.city.example") -> bytes:
    """A TLS 1.3-capable browser's ClientHello body (GREASE included, like Chrome's)."""
    extensions = [ext(0x0A0A)]
    if name is not None:
        extensions.append(sni(name))
    extensions += [
        ext(23), ext(0xFF01, b"\x00"), groups(0x1A1A, 29, 23, 24), point_formats(0),
        ext(35), alpn(b"h2", b"http/1.1"), ext(5, b"\x01\x00\x00\x00\x00"),
        sigalgs(*CHROME_SIGALGS), ext(18), ext(51, u16(b"")), ext(45, b"\x01\x01"),
        client_versions(0x2A2A, TLS13, TLS12), ext(27, b"\x02\x00\x02"), ext(0x3A3A, b"\x00"),
    ]  # fmt: skip
    return client_hello(ciphers=(0x4A4A, *CHROME_CIPHERS), extensions=extensions)


Flights = list[tuple[Direction, bytes]]


def tls12_session(
    name: str | None = "portal.city.example", *, client_chain: Sequence[bytes] = ()
) -> Flights:
    """The flights of a full TLS 1.2 handshake (RFC 5246 section 7.3), then application data."""
    hello = browser_hello(name)
    server = server_hello(cipher=0xC02B, extensions=[ext(0xFF01, b"\x00"), alpn(b"h2")])
    flight = handshake(2, server) + handshake(11, certificate(chain()))
    flight += handshake(12, b"\x03\x00\x1d" + u8(bytes(32)))
    if client_chain:
        flight += handshake(13, b"\x01\x01" + u16(b"") + u16(b""))  # CertificateRequest
    flight += handshake(14, b"")
    second = handshake(11, certificate(client_chain)) if client_chain else b""
    finished = record(CCS, b"\x01") + record(HANDSHAKE, bytes(40))
    return [
        ("orig", record(HANDSHAKE, handshake(1, hello), TLS10)),
        ("resp", record(HANDSHAKE, flight)),
        ("orig", record(HANDSHAKE, second + handshake(16, u8(bytes(32)))) + finished),
        ("resp", finished),
        ("orig", app_data()),
        ("resp", app_data(300)),
    ]


def tls13_session(name: str = "portal.city.example") -> Flights:
    """A TLS 1.3 handshake in middlebox-compatibility mode (RFC 8446 appendix D.4)."""
    server = server_hello(cipher=0x1301, extensions=[ext(51, b"\x00\x1d" + u16(bytes(32))),
                                                     server_version(TLS13)])  # fmt: skip
    return [
        ("orig", record(HANDSHAKE, handshake(1, browser_hello(name)), TLS10)),
        ("resp", record(HANDSHAKE, handshake(2, server)) + record(CCS, b"\x01") + app_data(2000)),
        ("orig", record(CCS, b"\x01") + app_data(53)),
        ("orig", app_data()),
        ("resp", app_data(300)),
    ]


def pieces(flights: Flights, size: int = 1 << 20) -> Flights:
    """Each flight cut in pieces of ``size`` bytes, in order."""
    return [(d, data[i : i + size]) for d, data in flights for i in range(0, len(data), size)]


def flow(port: int = 443) -> FlowRef:
    return FlowRef("f1", "1:x", "tcp", "10.0.0.1", 40000, "10.0.0.2", port, 0, 0, "t.pcap")


def run(
    parser: StreamParser, pieces: Iterable[tuple[Direction, bytes]], *, close: bool = True
) -> ContentFacts:
    """Feed pieces in order (timestamps 1, 2, ...), then close; the facts emitted."""
    facts = ContentFacts()
    for ts, (direction, data) in enumerate(pieces, start=1):
        parser.feed(direction, data, ts, facts)
    if close:
        parser.close(10_000, facts)
    return facts

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


#: QUIC test vectors (RFC 9001 appendix A): the client's first destination connection id, and
#: (A.2) its first Initial, 1200 bytes with a ClientHello for example.com.
RFC_DCID = bytes.fromhex("8394c8f03e515708")
RFC_CLIENT_INITIAL = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec35"
    "6c0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7"
    "378c8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7f"
    "b5ff89eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17"
    "ddd0c2084dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8500a6ef69ec4e3"
    "feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c"
    "4287e53805db059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed"
    "7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6"
    "611722395c906556be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b9"
    "5811a198f3491de3e7fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec281c"
    "a3f79c44546b9d90ca00f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632291d6a4182"
    "11cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07b"
    "a2ee47d80506f8d2c25e50fd14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132e"
    "ef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198e3fc433f9f2541010ae17c1bf202580f6047"
    "472fb36857fe843b19f5984009ddc324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d7320"
    "3a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4"
    "dae6e705769d1de354270123cb11450efc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03a"
    "dea2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e72404790a2181014f3b94a4e97d117b438"
    "130368cc39dbb2d198065ae3986547926cd2162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda7219"
    "84b6f440591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535"
    "eb8a7433bdabcb909271a6ecbcb58b936a88cd4e8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a"
    "8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5"
    "aff4af300cd804a6b6279ab3ff3afb64491c85194aab760d58a606654f9f4400e8b38591356fbf6425aca26dc85244"
    "259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b9"
    "0a079831aaf579be0a39013137aac6d404f518cfd46840647e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e5"
    "5c88d4a9a7f9474241e221af44860018ab0856972e194cd934"
)
#: RFC 9001 appendix A.3: the server's Initial (an ACK and a ServerHello).
RFC_SERVER_INITIAL = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a5816b6394100f37a1c69797554780b"
    "b38cc5a99f5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19"
    "fb84022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc42158407dd074ee"
)
#: RFC 9001 appendix A.4: a Retry to the client above (new connection id f067a5502a4262b5).
RFC_RETRY = bytes.fromhex(
    "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba"
)

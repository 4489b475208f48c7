"""ClientHello and ServerHello bodies (RFC 8446 section 4.1.2-4.1.3, RFC 5246 section 7.4.1), and
the SSL 2.0 CLIENT-HELLO that old clients send for compatibility (RFC 6101 appendix E.1).

Hello messages are parsed once per connection, so plain Python over a bounded body is fine;
lists of two-byte values are unpacked by ``struct`` in one call. A malformed extension is noted
and skipped (as Zeek and Wireshark do), but a hello whose fixed fields do not fit is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sensors.protocols.base import ParserError

#: Extension types read here (IANA "TLS ExtensionType Values").
SERVER_NAME, SUPPORTED_GROUPS, EC_POINT_FORMATS, SIGNATURE_ALGORITHMS = 0, 10, 11, 13
ALPN, SUPPORTED_VERSIONS, KEY_SHARE = 16, 43, 51
#: ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3): SHA-256 of the string
#: "HelloRetryRequest".
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
MAX_SERVER_NAME = 1024  # DNS names fit in 253 bytes; anything longer is noted and cut
MAX_ALPN = 32  # protocols kept from a list


class _Reader:
    """A cursor over a message body; running past the end is a ``ParserError`` naming the field."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field_name: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ParserError(f"{self.what}: {field_name} runs past the end of the message")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def u8(self, field_name: str) -> int:
        return self.take(1, field_name)[0]

    def u16(self, field_name: str) -> int:
        return int.from_bytes(self.take(2, field_name), "big")

    def vector(self, width: int, field_name: str) -> bytes:
        return self.take(int.from_bytes(self.take(width, field_name), "big"), field_name)

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def u16_list(data: bytes) -> tuple[int, ...]:
    """Two-byte values (an odd trailing byte is ignored: the caller notes the malformation)."""
    return struct.unpack(f"!{len(data) // 2}H", data[: len(data) & ~1])


@dataclass(frozen=True, slots=True)
class ClientHello:
    version: int  # legacy_version
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...] = ()  # types in the order sent, GREASE included
    compression: bytes = b""
    session_id: bytes = b""
    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    supported_groups: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    supported_versions: tuple[int, ...] = ()
    sslv2: bool = False  # an SSL 2.0-format CLIENT-HELLO (no extensions, three-byte ciphers)
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerHello:
    version: int  # legacy_version
    cipher: int
    extensions: tuple[int, ...] = ()
    session_id: bytes = b""
    compression: int = 0
    selected_version: int | None = None  # supported_versions (TLS 1.3)
    alpn: bytes | None = None
    key_share_group: int | None = None
    retry: bool = False  # a HelloRetryRequest
    problems: tuple[str, ...] = ()

    @property
    def negotiated(self) -> int:
        return self.selected_version if self.selected_version is not None else self.version


@dataclass(slots=True)
class _Extensions:
    types: list[int] = field(default_factory=list)
    bodies: dict[int, bytes] = field(default_factory=dict)  # the first of each type
    problems: list[str] = field(default_factory=list)


def _extensions(r: _Reader) -> _Extensions:
    out = _Extensions()
    if r.left == 0:
        return out  # no extensions block at all (SSL 3.0 and early TLS clients)
    if r.left < 2:
        out.problems.append("truncated_extensions")
        return out
    size = int.from_bytes(r.take(2, "extensions"), "big")
    if size > r.left:  # an extensions block longer than the message: keep what is there
        out.problems.append("truncated_extensions")
        size = r.left
    block = r.take(size, "extensions")
    pos = 0
    while pos + 4 <= len(block):
        kind, size = struct.unpack_from("!HH", block, pos)
        body = block[pos + 4 : pos + 4 + size]
        if len(body) < size:
            out.problems.append("truncated_extension")
            return out
        out.types.append(kind)
        out.bodies.setdefault(kind, body)
        pos += 4 + size
    if pos != len(block):
        out.problems.append("trailing_extension_bytes")
    return out


def parse_client_hello(body: bytes) -> ClientHello:
    r = _Reader(body, "ClientHello")
    version = r.u16("legacy_version")
    r.take(32, "random")
    session_id = r.vector(1, "legacy_session_id")
    suites = r.vector(2, "cipher_suites")
    if len(suites) % 2:
        raise ParserError("ClientHello: cipher_suites has an odd length")
    compression = r.vector(1, "legacy_compression_methods")
    ext = _extensions(r)
    b = ext.bodies
    problems = ext.problems
    name = _server_name(b[SERVER_NAME], problems) if SERVER_NAME in b else None
    alpn = _alpn(b[ALPN], problems) if ALPN in b else ()
    return ClientHello(
        version=version,
        ciphers=u16_list(suites),
        extensions=tuple(ext.types),
        compression=compression,
        session_id=session_id,
        server_name=name,
        alpn=alpn,
        supported_groups=_list16(b.get(SUPPORTED_GROUPS), 2, "supported_groups", problems),
        ec_point_formats=tuple(_vec(b.get(EC_POINT_FORMATS), 1, "ec_point_formats", problems)),
        signature_algorithms=_list16(
            b.get(SIGNATURE_ALGORITHMS), 2, "signature_algorithms", problems
        ),
        supported_versions=_list16(b.get(SUPPORTED_VERSIONS), 1, "supported_versions", problems),
        problems=tuple(problems),
    )


def _vec(body: bytes | None, width: int, what: str, problems: list[str]) -> bytes:
    """The vector an extension body holds (length prefix of ``width`` bytes)."""
    if body is None:
        return b""
    size = int.from_bytes(body[:width], "big")
    if len(body) < width or size != len(body) - width:
        problems.append(f"malformed_{what}")
    return body[width : width + size]


def _list16(body: bytes | None, width: int, what: str, problems: list[str]) -> tuple[int, ...]:
    data = _vec(body, width, what, problems)
    if len(data) % 2:
        problems.append(f"malformed_{what}")
    return u16_list(data)


def _server_name(body: bytes, problems: list[str]) -> str | None:
    """The first host_name of a server_name list (RFC 6066 section 3)."""
    names = _vec(body, 2, "server_name", problems)
    pos = 0
    while pos + 3 <= len(names):
        kind = names[pos]
        size = int.from_bytes(names[pos + 1 : pos + 3], "big")
        value = names[pos + 3 : pos + 3 + size]
        if len(value) < size:
            problems.append("malformed_server_name")
            return None
        if kind == 0:
            if size > MAX_SERVER_NAME:
                problems.append("server_name_too_long")
                value = value[:MAX_SERVER_NAME]
            return value.decode("utf-8", "backslashreplace")
        pos += 3 + size
    return None


def _alpn(body: bytes, problems: list[str]) -> tuple[bytes, ...]:
    """ProtocolNameList (RFC 7301 section 3.1), at most ``MAX_ALPN`` names kept."""
    data = _vec(body, 2, "alpn", problems)
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        size = data[pos]
        value = data[pos + 1 : pos + 1 + size]
        if len(value) < size:
            problems.append("malformed_alpn")
            break
        if len(out) < MAX_ALPN:
            out.append(value)
        pos += 1 + size
    return tuple(out)


def parse_server_hello(body: bytes) -> ServerHello:
    r = _Reader(body, "ServerHello")
    version = r.u16("legacy_version")
    random = r.take(32, "random")
    if version == 0x0304 or (version >> 8 == 0x7F and (version & 0xFF) < 22):
        # TLS 1.3 drafts before 22 put their version in this field (0x7fNN, or 0x0304 in early
        # implementations) and had no session id or compression; RFC 8446 keeps 0x0303 here.
        session_id, cipher, compression = b"", r.u16("cipher_suite"), 0
    else:
        session_id = r.vector(1, "legacy_session_id")
        cipher = r.u16("cipher_suite")
        compression = r.u8("legacy_compression_method")
    ext = _extensions(r)
    b = ext.bodies
    problems = ext.problems
    selected = None
    if SUPPORTED_VERSIONS in b:
        if len(b[SUPPORTED_VERSIONS]) == 2:
            selected = int.from_bytes(b[SUPPORTED_VERSIONS], "big")
        else:
            problems.append("malformed_supported_versions")
    alpn = _alpn(b[ALPN], problems) if ALPN in b else ()
    share = b.get(KEY_SHARE)
    return ServerHello(
        version=version,
        cipher=cipher,
        extensions=tuple(ext.types),
        session_id=session_id,
        compression=compression,
        selected_version=selected,
        alpn=alpn[0] if alpn else None,
        key_share_group=int.from_bytes(share[:2], "big") if share and len(share) >= 2 else None,
        retry=random == HELLO_RETRY_RANDOM,
        problems=tuple(problems),
    )


def parse_sslv2_client_hello(record: bytes) -> ClientHello:
    """An SSL 2.0 CLIENT-HELLO message (after the two-byte record header): version, then the
    lengths of the cipher specs, session id and challenge, then those fields."""
    r = _Reader(record, "SSLv2 CLIENT-HELLO")
    if r.u8("msg_type") != 1:
        raise ParserError("SSLv2 record is not a CLIENT-HELLO")
    version = r.u16("version")
    spec_len = r.u16("cipher_specs")
    sid_len = r.u16("session_id")
    challenge_len = r.u16("challenge")
    if spec_len % 3:
        raise ParserError("SSLv2 CLIENT-HELLO: cipher specs are not three bytes each")
    specs = r.take(spec_len, "cipher_specs")
    session_id = r.take(sid_len, "session_id")
    r.take(challenge_len, "challenge")
    ciphers = tuple(int.from_bytes(specs[i : i + 3], "big") for i in range(0, spec_len, 3))
    return ClientHello(version=version, ciphers=ciphers, session_id=session_id, sslv2=True)

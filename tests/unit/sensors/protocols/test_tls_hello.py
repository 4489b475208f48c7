"""ClientHello, ServerHello and SSL 2.0 CLIENT-HELLO bodies: fields, and hostile variants."""

from __future__ import annotations

import struct

import pytest
from tlskit import (
    TLS13,
    alpn,
    browser_hello,
    client_hello,
    ext,
    server_hello,
    server_version,
    sni,
    u16,
)

from sensors.protocols.base import ParserError
from sensors.protocols.tls.hello import (
    HELLO_RETRY_RANDOM,
    MAX_ALPN,
    MAX_SERVER_NAME,
    parse_client_hello,
    parse_server_hello,
    parse_sslv2_client_hello,
)


def test_browser_client_hello_fields() -> None:
    h = parse_client_hello(browser_hello("portal.city.example"))
    assert h.version == 0x0303 and h.ciphers[0] == 0x4A4A and len(h.ciphers) == 16
    assert h.server_name == "portal.city.example"
    assert h.alpn == (b"h2", b"http/1.1")
    assert h.supported_groups == (0x1A1A, 29, 23, 24) and h.ec_point_formats == (0,)
    assert h.supported_versions == (0x2A2A, TLS13, 0x0303)
    assert h.extensions[:3] == (0x0A0A, 0, 23) and h.extensions[-1] == 0x3A3A
    assert h.compression == b"\x00" and h.problems == ()


def test_client_hello_without_extensions_block() -> None:
    h = parse_client_hello(client_hello(version=0x0300, extensions=None))
    assert (h.version, h.extensions, h.server_name) == (0x0300, (), None)


@pytest.mark.parametrize(
    ("cut_at", "field"),
    [(1, "legacy_version"), (20, "random"), (36, "legacy_session_id"), (45, "cipher_suites")],
)
def test_truncated_fixed_fields_are_errors_that_name_the_field(cut_at: int, field: str) -> None:
    with pytest.raises(ParserError, match=f"ClientHello: {field}"):
        parse_client_hello(client_hello(session_id=b"\x01" * 8)[:cut_at])


def test_malformed_extensions_are_noted_not_fatal() -> None:
    body = client_hello(extensions=[sni("ok.example")])
    # Claim a longer extensions block than there is.
    head = body[: -len(sni("ok.example")) - 2]
    h = parse_client_hello(head + struct.pack("!H", 500) + sni("ok.example"))
    assert h.server_name == "ok.example" and "truncated_extensions" in h.problems
    # An extension whose own length runs past the block.
    h = parse_client_hello(client_hello(extensions=[sni("a.example"), b"\x00\x10\x00\x30ab"]))
    assert h.server_name == "a.example" and "truncated_extension" in h.problems
    # An SNI whose inner lengths lie, an odd supported_groups list, an ALPN name cut short.
    h = parse_client_hello(client_hello(extensions=[ext(0, u16(b"\x00\x00\x40abc")),
                                                    ext(10, u16(b"\x00\x17\x00")),
                                                    ext(16, u16(b"\x05h2"))]))  # fmt: skip
    assert h.server_name is None and h.alpn == ()
    assert {"malformed_server_name", "malformed_supported_groups", "malformed_alpn"} <= set(
        h.problems
    )


def test_odd_cipher_list_is_an_error() -> None:
    body = bytearray(client_hello(ciphers=(0x1301,)))
    body[36] = 3  # cipher_suites length (bytes 35-36): 3 bytes
    with pytest.raises(ParserError, match="odd length"):
        parse_client_hello(bytes(body) + b"\x00")


def test_long_names_and_alpn_lists_are_bounded() -> None:
    names = [b"p%d" % i for i in range(100)]
    h = parse_client_hello(client_hello(extensions=[sni("a" * 5000), alpn(*names)]))
    assert h.server_name == "a" * MAX_SERVER_NAME and "server_name_too_long" in h.problems
    assert len(h.alpn) == MAX_ALPN


def test_non_utf8_server_name_is_kept_escaped() -> None:
    h = parse_client_hello(client_hello(extensions=[ext(0, u16(b"\x00" + u16(b"a\xffb")))]))
    assert h.server_name == "a\\xffb"


def test_server_hello_tls13_alpn_and_retry() -> None:
    s = parse_server_hello(server_hello(cipher=0x1301, extensions=[server_version(TLS13),
                                                                   alpn(b"h2")]))  # fmt: skip
    assert (s.negotiated, s.cipher, s.alpn, s.retry) == (TLS13, 0x1301, b"h2", False)
    retry = parse_server_hello(server_hello(random=HELLO_RETRY_RANDOM,
                                            extensions=[server_version(TLS13)]))  # fmt: skip
    assert retry.retry
    bad = parse_server_hello(server_hello(extensions=[ext(43, b"\x03")]))
    assert bad.negotiated == 0x0303 and "malformed_supported_versions" in bad.problems


@pytest.mark.parametrize("version", [0x7F12, 0x0304])
def test_server_hello_of_an_early_tls13_draft(version: int) -> None:
    """Drafts before 22 put their version (0x7fNN, or 0x0304 in early implementations) in the
    version field and had no session id or compression in ServerHello."""
    body = struct.pack("!H", version) + bytes(32) + struct.pack("!H", 0x1301) + u16(b"")
    s = parse_server_hello(body)
    assert (s.version, s.cipher, s.session_id, s.negotiated) == (version, 0x1301, b"", version)


def test_sslv2_client_hello() -> None:
    specs = bytes.fromhex("010080 0700c0 00002f")
    msg = b"\x01" + struct.pack("!HHHH", 0x0301, len(specs), 0, 16) + specs + bytes(16)
    h = parse_sslv2_client_hello(msg)
    assert (h.version, h.ciphers, h.sslv2) == (0x0301, (0x010080, 0x0700C0, 0x2F), True)
    with pytest.raises(ParserError, match="three bytes"):
        parse_sslv2_client_hello(b"\x01" + struct.pack("!HHHH", 0x0002, 4, 0, 16) + bytes(20))
    with pytest.raises(ParserError, match="challenge"):
        parse_sslv2_client_hello(msg[:-4])

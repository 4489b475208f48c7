"""JA3, JA3S and JA4 against their published test vectors, from hello bytes through our parser."""

from __future__ import annotations

import hashlib

import pytest
from tlskit import (
    CHROME_CIPHERS,
    CHROME_SIGALGS,
    alpn,
    client_hello,
    client_versions,
    ext,
    groups,
    point_formats,
    server_hello,
    sigalgs,
    sni,
)

from sensors.protocols.tls.fingerprint import ja3, ja3_string, ja3s, ja3s_string, ja4, ja4_raw
from sensors.protocols.tls.hello import ClientHello, parse_client_hello, parse_server_hello


def test_ja3_readme_vectors() -> None:
    """salesforce/ja3 README: the two example strings and their hashes, built as hellos."""
    with_ext = parse_client_hello(
        client_hello(
            version=0x0301,
            ciphers=(47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4),
            extensions=[sni("a.example"), groups(23, 24, 25), point_formats(0)],
        )
    )
    assert (
        ja3_string(with_ext)
        == "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0"
    )
    assert ja3(with_ext) == "ada70206e40642a3e4461f35503241d5"
    bare = parse_client_hello(
        client_hello(
            version=0x0301, ciphers=(4, 5, 10, 9, 100, 98, 3, 6, 19, 18, 99), extensions=None
        )
    )
    assert ja3_string(bare) == "769,4-5-10-9-100-98-3-6-19-18-99,,,"
    assert ja3(bare) == "de350869b8c85de67a350c8d186f11e6"


def test_ja3_leaves_grease_out_everywhere() -> None:
    """suricata-verify tls13-draft22: ``771,4865-4867,0-43-13-10-40,23,`` (hash published there),
    here with GREASE added to ciphers, extensions and groups, which JA3 must ignore."""
    hello = parse_client_hello(
        client_hello(
            ciphers=(0x0A0A, 4865, 4867),
            extensions=[
                ext(0x1A1A),
                sni("localhost"),
                client_versions(0x7F16),
                sigalgs(0x0403),
                groups(0x2A2A, 23),
                ext(40, b"\x00"),
            ],
        )
    )
    assert ja3_string(hello) == "771,4865-4867,0-43-13-10-40,23,"
    assert ja3(hello) == "786468211b4d23f9b725987b0de9d090"


def test_ja3s_vector() -> None:
    """suricata-verify tls-ja3s-pre8: ``771,49199,65281-0-11-16-23`` is 5d79edf6...bc."""
    hello = parse_server_hello(
        server_hello(
            cipher=49199,
            extensions=[ext(65281, b"\x00"), ext(0), point_formats(0), alpn(b"h2"), ext(23)],
        )
    )
    assert ja3s_string(hello) == "771,49199,65281-0-11-16-23"
    assert ja3s(hello) == "5d79edf64e03689ff559a54e9d9487bc"


SPEC_EXTENSIONS = (0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005,
                   0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015)  # fmt: skip


def spec_hello(*, signature_algorithms: bool = True) -> bytes:
    """The ClientHello of FoxIO's JA4 specification (technical_details/JA4.md), with GREASE."""
    bodies = {
        0x0000: sni("example.com")[4:],
        0x0010: alpn(b"h2", b"http/1.1")[4:],
        0x000D: sigalgs(*CHROME_SIGALGS)[4:],
        0x002B: client_versions(0x5A5A, 0x0304)[4:],
    }
    extensions = [ext(0x0A0A)] + [
        ext(kind, bodies.get(kind, b"")) for kind in SPEC_EXTENSIONS
        if signature_algorithms or kind != 0x000D
    ]  # fmt: skip
    return client_hello(ciphers=(0x2A2A, *CHROME_CIPHERS), extensions=extensions)


def test_ja4_specification_example() -> None:
    hello = parse_client_hello(spec_hello())
    assert ja4(hello) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    _, ciphers, extensions = ja4_raw(hello)
    assert ciphers == "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
    assert extensions == ("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
                          "_0403,0804,0401,0503,0805,0501,0806,0601")  # fmt: skip


def test_ja4_without_signature_algorithms_hashes_the_extensions_alone() -> None:
    """JA4.md: the extension list alone hashes to 6d807ffa2a79 (here without extension 13, so
    the list itself changes; the spec's string is checked through the same function)."""
    assert (
        hashlib.sha256(
            b"0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
        ).hexdigest()[:12]
        == "6d807ffa2a79"
    )
    hello = parse_client_hello(spec_hello(signature_algorithms=False))
    assert ja4_raw(hello)[2] == "0005,000a,000b,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
    assert ja4(hello) is not None and ja4(hello).startswith("t13d1515h2_8daaf6152771_")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("first", "chars"),
    [
        (b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"", "00"),
        # JA4.md: non-alphanumeric first or last byte: first and last hex digits instead.
        (b"\xab", "ab"), (b"\xab\xcd", "ad"), (b"\x30\xab", "3b"), (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
    ],
)  # fmt: skip
def test_ja4_alpn_characters(first: bytes, chars: str) -> None:
    hello = parse_client_hello(client_hello(extensions=[alpn(first, b"h2")]))
    assert ja4_raw(hello)[0] == f"t12i0301{chars}"


def test_ja4_versions_counts_and_empty_lists() -> None:
    hello = ClientHello(version=0x0300, ciphers=())
    assert ja4(hello) == "ts3i000000_000000000000_000000000000"
    many = ClientHello(version=0x0303, ciphers=tuple(range(1, 150)), extensions=tuple(range(150)))
    assert ja4_raw(many)[0] == "t12d999900"  # counts stop at 99; extension 0 (SNI) present
    # The highest supported version, GREASE left out, wins over legacy_version.
    v13 = ClientHello(
        version=0x0303, ciphers=(0x1301,), supported_versions=(0x0303, 0xFAFA, 0x0304)
    )
    assert ja4_raw(v13)[0].startswith("t13")
    assert ja4(ClientHello(version=0x0002, ciphers=(0x010080,), sslv2=True)) is None
    assert ja3(ClientHello(version=0x0002, ciphers=(0x010080,), sslv2=True)) is None


def test_ja4_keeps_duplicate_extensions_and_ignores_grease_signature_algorithms() -> None:
    hello = parse_client_hello(client_hello(extensions=[ext(23), ext(23), sigalgs(0x0A0A, 0x0403)]))
    assert ja4_raw(hello)[2] == "000d,0017,0017_0403"

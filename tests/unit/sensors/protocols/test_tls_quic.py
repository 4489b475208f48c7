"""QUIC Initial packets: key derivation and whole packets from RFC 9001 appendix A and RFC 9369
appendix A, Chrome-style shuffled CRYPTO frames, Retry, and hostile packets."""

from __future__ import annotations

import hashlib
import hmac
import struct
from pathlib import Path

import pytest
from contentkit import facts, run, udp_frame, write_pcap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tlskit import (
    RFC_CLIENT_INITIAL,
    RFC_DCID,
    RFC_RETRY,
    RFC_SERVER_INITIAL,
    browser_hello,
    ext,
    flow,
    handshake,
    server_hello,
    server_version,
)

from sensors.events import ContentFacts
from sensors.protocols.base import ParserError, ParserLimits
from sensors.protocols.tls.quic import (
    _SALTS,
    MAX_CRYPTO,
    MAX_DATAGRAMS,
    V1,
    V2,
    QuicParser,
    _expand_label,
)


def keys(version: int, dcid: bytes, label: bytes) -> tuple[bytes, bytes, bytes]:
    salt, prefix = _SALTS[version]
    secret = _expand_label(hmac.new(salt, dcid, hashlib.sha256).digest(), label, 32)
    return tuple(_expand_label(secret, prefix + name, n)  # type: ignore[return-value]
                 for name, n in ((b"key", 16), (b"iv", 12), (b"hp", 16)))  # fmt: skip


@pytest.mark.parametrize(
    ("version", "label", "expected"),
    [
        (V1, b"client in", ("1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c",
                            "9f50449e04a0e810283a1e9933adedd2")),
        (V1, b"server in", ("cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e",
                            "c206b8d9b9f0f37644430b490eeaa314")),
        (V2, b"client in", ("8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f",
                            "45b95e15235d6f45a6b19cbcb0294ba9")),
        (V2, b"server in", ("82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652",
                            "edf6d05c83121201b436e16877593c3a")),
    ],
)  # fmt: skip
def test_initial_keys_match_the_rfc_vectors(
    version: int, label: bytes, expected: tuple[str, str, str]
) -> None:
    assert tuple(k.hex() for k in keys(version, RFC_DCID, label)) == expected


def parse(*datagrams: tuple[str, bytes]) -> ContentFacts:
    parser = QuicParser(flow(443), ParserLimits())
    out = ContentFacts()
    for ts, (direction, data) in enumerate(datagrams, start=1):
        parser.datagram(direction, data, ts, out)  # type: ignore[arg-type]
    parser.close(0, out)
    return out


def test_the_rfc_client_and_server_initials() -> None:
    (tls,) = parse(("orig", RFC_CLIENT_INITIAL), ("resp", RFC_SERVER_INITIAL)).tls
    assert tls.server_name == "example.com" and tls.version == "TLSv13"
    assert tls.cipher == "TLS_AES_128_GCM_SHA256" and tls.client_version == "TLSv12"
    assert tls.ja4 is not None and tls.ja4.startswith("q13d") and not tls.established


def varint(value: int) -> bytes:
    for size, tag in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if value < 1 << (8 * size - 2):
            return (value | (tag << (8 * size - 8))).to_bytes(size, "big")
    raise ValueError(value)


def crypto(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def initial(payload: bytes, *, dcid: bytes, client: bool, version: int = V1, pn: int = 0,
            scid: bytes = b"\x01\x02", keys_from: bytes | None = None) -> bytes:  # fmt: skip
    """An Initial packet protected as RFC 9001 section 5 says, written here independently of
    the parser (AES-GCM payload, then the header-protection mask). Both sides' keys come from
    the client's first destination connection id (``keys_from``, by default ``dcid``)."""
    secret_id = dcid if keys_from is None else keys_from
    key, iv, hp = keys(version, secret_id, b"client in" if client else b"server in")
    kind = 0 if version == V1 else 1
    first = 0xC0 | (kind << 4) | 0x03  # 4-byte packet number
    token = varint(0)
    payload = payload.ljust(40, b"\x00")  # PADDING: room for the header-protection sample
    head = bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid
    head += bytes([len(scid)]) + scid + token + varint(4 + len(payload) + 16)
    pn_at = len(head)
    head += struct.pack("!I", pn)
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, payload, head)
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sealed[:16])
    packet = bytearray(head + sealed)
    packet[0] ^= mask[0] & 0x0F
    for i in range(4):
        packet[pn_at + i] ^= mask[1 + i]
    return bytes(packet)


DCID = bytes.fromhex("0011223344556677")


def hellos(version: int = V1) -> tuple[bytes, bytes]:
    hello = handshake(1, browser_hello("portal.city.example"))
    # Chrome shuffles CRYPTO frames and spreads them over packets; PING and ACK frames between.
    first = crypto(300, hello[300:]) + b"\x01" + crypto(0, hello[:100])
    second = b"\x02\x00\x00\x00\x00" + crypto(100, hello[100:300])
    share = ext(51, b"\x00\x1d\x00\x00")
    server = handshake(2, server_hello(cipher=0x1302, extensions=[server_version(0x0304), share]))
    client_dgram = initial(first, dcid=DCID, client=True, version=version)
    client_dgram += initial(second, dcid=DCID, client=True, version=version, pn=1)
    return client_dgram, initial(
        crypto(0, server),
        dcid=b"\x01\x02",
        scid=b"\x09" * 8,
        client=False,
        version=version,
        keys_from=DCID,
    )


@pytest.mark.parametrize("version", [V1, V2])
def test_shuffled_crypto_frames_and_coalesced_packets(version: int) -> None:
    client, server = hellos(version)
    (tls,) = parse(("orig", client), ("resp", server + b"\x40" + bytes(30))).tls  # + short header
    assert tls.server_name == "portal.city.example" and tls.alpn == ("h2", "http/1.1")
    assert tls.cipher == "TLS_AES_256_GCM_SHA384" and tls.version == "TLSv13"
    assert tls.ja4 is not None and tls.ja4.startswith("q13d1514h2_8daaf6152771_")


def test_after_a_retry_the_new_connection_id_gives_the_keys() -> None:
    new = bytes.fromhex("f067a5502a4262b5")
    hello = handshake(1, browser_hello("after.retry.example"))
    first = initial(crypto(0, hello), dcid=RFC_DCID, client=True)
    second = initial(crypto(0, hello), dcid=new, client=True)
    (tls,) = parse(("orig", first), ("resp", RFC_RETRY), ("orig", second)).tls
    assert tls.server_name == "after.retry.example"


def test_a_tampered_packet_is_a_problem_and_the_next_one_still_counts() -> None:
    client, server = hellos()
    bad = bytearray(client)
    bad[60] ^= 0xFF  # inside the first packet's ciphertext
    parser = QuicParser(flow(443), ParserLimits())
    out = ContentFacts()
    parser.datagram("orig", bytes(bad), 1, out)
    assert parser._problems == ["quic_initial_undecryptable"] and out.tls == []
    parser.datagram("orig", client, 2, out)  # the client sends it again
    parser.datagram("resp", server, 3, out)
    (tls,) = out.tls
    assert tls.server_name == "portal.city.example"
    assert tls.problems == ("quic_initial_undecryptable",)


@pytest.mark.parametrize(
    "datagram",
    [
        b"\xc0\x00\x00\x00\x01",  # a long header cut short
        b"\xc0\x00\x00\x00\x01\x08" + DCID + b"\x00\x00\x7f",  # a length past the datagram
    ],
)
def test_malformed_packets_are_violations(datagram: bytes) -> None:
    with pytest.raises(ParserError, match="QUIC"):
        parse(("orig", datagram))


def test_versions_we_cannot_read_and_short_headers_are_passed_over() -> None:
    unknown = b"\xc0\x0a\x0a\x0a\x0a\x08" + DCID + b"\x00" + bytes(40)
    assert parse(("orig", unknown), ("orig", b"\x40" + bytes(40))).tls == []


def test_budgets_crypto_bytes_and_datagrams() -> None:
    big = b"".join(initial(crypto(i * 1000, bytes(1000)), dcid=DCID, client=True, pn=i)
                   for i in range(MAX_CRYPTO // 1000 + 2))  # fmt: skip
    parser = QuicParser(flow(443), ParserLimits())
    out = ContentFacts()
    parser.datagram("orig", big, 1, out)
    assert parser._crypto["client"].size <= MAX_CRYPTO
    assert "quic_crypto_budget" in parser._problems
    for i in range(MAX_DATAGRAMS + 5):
        parser.datagram("orig", b"\x40" + bytes(30), i, out)
    assert parser._done  # past the datagram budget nothing more is looked at


def test_quic_through_the_sensor(tmp_path: Path) -> None:
    client, server = hellos()
    frames = [(1000.0, udp_frame("192.0.2.10", "198.51.100.20", 51000, 443, client)),
              (1000.01, udp_frame("198.51.100.20", "192.0.2.10", 443, 51000, server))]  # fmt: skip
    results, _ = run(write_pcap(tmp_path / "quic.pcap", frames))
    (tls,) = facts(results).tls
    assert tls.flow.transport == "udp" and tls.server_name == "portal.city.example"

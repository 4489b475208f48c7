"""TLS 1.2 records and handshake messages (RFC 5246, RFC 8422 for ECDHE, RFC 5288 for AES-GCM).

The handshake is real up to ChangeCipherSpec: the ServerKeyExchange carries an X25519 share and a
valid ECDSA signature by the certificate's key over both randoms and the parameters (RFC 8422 5.4).
What follows is AES-128-GCM as it looks on the wire: an 8-byte explicit nonce, ciphertext the size
of the plaintext, and a 16-byte tag, with random bytes standing in for what no sensor can read.
"""

from __future__ import annotations

import random
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.demo.certificate import DemoCredential

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
TLS12 = 0x0303
ECDHE_ECDSA_AES128_GCM_SHA256 = 0xC02B
_X25519 = 0x001D
_ECDSA_SECP256R1_SHA256 = 0x0403
_MAX_FRAGMENT = 16384  # RFC 5246 6.2.1

# A browser's TLS 1.2 offer (OpenSSL's, which FreeRDP uses, is alike): ECDHE with AES-GCM and
# ChaCha20 first, RSA key exchange last.
BROWSER_SUITES = (0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0xC02C, 0xC030, 0xC00A, 0xC009, 0xC013, 0xC014,
                  0x009C, 0x009D, 0x002F, 0x0035)  # fmt: skip
_SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201)


def _u8(data: bytes) -> bytes:
    return struct.pack("!B", len(data)) + data


def _u16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _u24(data: bytes) -> bytes:
    return struct.pack("!I", len(data))[1:] + data


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!H", kind) + _u16(body)


def record(content_type: int, fragment: bytes, version: int = TLS12) -> bytes:
    return struct.pack("!BH", content_type, version) + _u16(fragment)


def handshake(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!B", msg_type) + _u24(body)


def client_hello(
    client_random: bytes,
    session_id: bytes,
    *,
    sni: str | None,
    alpn: list[str],
    suites: tuple[int, ...] = BROWSER_SUITES,
) -> bytes:
    """A ClientHello record; its record version is TLS 1.0, as clients send for compatibility."""
    extensions = b""
    if sni is not None:
        name = b"\x00" + _u16(sni.encode())  # host_name (RFC 6066 3)
        extensions += _extension(0x0000, _u16(name))
    extensions += _extension(0x0017, b"")  # extended_master_secret (RFC 7627)
    extensions += _extension(0xFF01, b"\x00")  # renegotiation_info (RFC 5746)
    extensions += _extension(0x000A, _u16(struct.pack("!3H", _X25519, 0x0017, 0x0018)))
    extensions += _extension(0x000B, _u8(b"\x00"))  # ec_point_formats: uncompressed
    extensions += _extension(0x0023, b"")  # session_ticket
    if alpn:
        extensions += _extension(0x0010, _u16(b"".join(_u8(p.encode()) for p in alpn)))
    extensions += _extension(0x0005, b"\x01\x00\x00\x00\x00")  # status_request (OCSP)
    sig_algs = struct.pack(f"!{len(_SIGNATURE_ALGORITHMS)}H", *_SIGNATURE_ALGORITHMS)
    extensions += _extension(0x000D, _u16(sig_algs))
    body = struct.pack("!H", TLS12) + client_random + _u8(session_id)
    body += _u16(struct.pack(f"!{len(suites)}H", *suites)) + _u8(b"\x00") + _u16(extensions)
    return record(HANDSHAKE, handshake(1, body), version=0x0301)


def server_flight(
    credential: DemoCredential,
    client_random: bytes,
    server_random: bytes,
    session_id: bytes,
    ecdhe_public: bytes,
    *,
    alpn: str | None,
) -> bytes:
    """ServerHello, Certificate, ServerKeyExchange and ServerHelloDone, one record each."""
    extensions = _extension(0xFF01, b"\x00") + _extension(0x0017, b"")
    extensions += _extension(0x000B, _u8(b"\x00"))
    if alpn is not None:
        extensions += _extension(0x0010, _u16(_u8(alpn.encode())))
    hello = struct.pack("!H", TLS12) + server_random + _u8(session_id)
    hello += struct.pack("!HB", ECDHE_ECDSA_AES128_GCM_SHA256, 0) + _u16(extensions)
    chain = b"".join(_u24(der) for der in credential.chain_der())
    params = struct.pack("!BH", 3, _X25519) + _u8(ecdhe_public)  # named_curve (RFC 8422 5.4)
    signature = credential.sign(client_random + server_random + params)
    key_exchange = params + struct.pack("!H", _ECDSA_SECP256R1_SHA256) + _u16(signature)
    return b"".join(
        record(HANDSHAKE, handshake(msg_type, body))
        for msg_type, body in ((2, hello), (11, _u24(chain)), (12, key_exchange), (14, b""))
    )


def x25519_share(rng: random.Random) -> bytes:
    """A real X25519 public key whose private half comes from ``rng``."""
    private = X25519PrivateKey.from_private_bytes(rng.randbytes(32))
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class RecordProtection:
    """One direction's AES-GCM records after ChangeCipherSpec: sizes and nonces as on the wire."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._nonce = rng.getrandbits(64)

    def seal(self, content_type: int, plaintext_len: int) -> bytes:
        out = []
        while True:
            size = min(plaintext_len, _MAX_FRAGMENT)
            nonce = struct.pack("!Q", self._nonce)
            self._nonce = (self._nonce + 1) & 0xFFFFFFFFFFFFFFFF
            out.append(record(content_type, nonce + self._rng.randbytes(size + 16)))
            plaintext_len -= size
            if plaintext_len <= 0:
                return b"".join(out)

    def finished(self) -> bytes:
        """ChangeCipherSpec and the encrypted Finished (4-byte header and 12-byte verify_data)."""
        return record(CHANGE_CIPHER_SPEC, b"\x01") + self.seal(HANDSHAKE, 16)

    def close_notify(self) -> bytes:
        return self.seal(ALERT, 2)


def client_key_exchange(public: bytes) -> bytes:
    return record(HANDSHAKE, handshake(16, _u8(public)))

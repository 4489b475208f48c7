"""TLS inside QUIC: the ClientHello and ServerHello that QUIC Initial packets carry in CRYPTO
frames (RFC 9000 sections 17.2.2 and 19.6, RFC 9001 section 4), as one ``TlsSeen`` per flow
with a ``q`` JA4.

Initial packets are protected with keys anyone can derive from the Destination Connection ID of
the client's first Initial (RFC 9001 section 5.2), so a passive sensor can read them: derive the
keys (HKDF), remove header protection (AES-ECB over a sample, section 5.4), open the AEAD
(AES-128-GCM). QUIC v1 (RFC 9000), v2 (RFC 9369) and draft 29 are known; other versions, Handshake
and 0-RTT packets are passed over, and 1-RTT (short header) packets end the search.

Budgets: CRYPTO data kept per direction (``MAX_CRYPTO``, out of order allowed: Chrome shuffles its
frames), and datagrams looked at per flow (``MAX_DATAGRAMS``); after the hellos, or past the
budget, a datagram costs one comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sensors.events import ContentFacts, Direction, FlowRef, TlsSeen
from sensors.protocols.base import DatagramParser, ParserError, ParserLimits
from sensors.protocols.tls.fingerprint import ja3, ja3s, ja4
from sensors.protocols.tls.hello import (
    ClientHello,
    ServerHello,
    parse_client_hello,
    parse_server_hello,
)
from sensors.protocols.tls.suites import cipher_name, version_name

V1, V2, DRAFT29 = 0x00000001, 0x6B3343CF, 0xFF00001D
#: Initial salts (RFC 9001 section 5.2, RFC 9369 section 3.3.1, draft-ietf-quic-tls-29) and the
#: label prefix of each version's key derivation.
_SALTS = {
    V1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic "),
    V2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 "),
    DRAFT29: (bytes.fromhex("afbfec289993d24c9e9786f19c6111e04390a899"), b"quic "),
}
#: Long-header packet types by version (RFC 9369 section 3.2 swaps them in v2).
_INITIAL = {V1: 0, DRAFT29: 0, V2: 1}
_RETRY = {V1: 3, DRAFT29: 3, V2: 0}
MAX_CRYPTO = 64 * 1024
MAX_DATAGRAMS = 64
MAX_PIECES = 256
_NOT_PADDING = re.compile(rb"[^\x00]")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """A variable-length integer (RFC 9000 section 16) at ``pos``: (value, next position)."""
    if pos >= len(data):
        raise ParserError("QUIC: a variable-length integer runs past the end")
    size = 1 << (data[pos] >> 6)
    if pos + size > len(data):
        raise ParserError("QUIC: a variable-length integer runs past the end")
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    return value, pos + size


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context."""
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


class _Keys:
    __slots__ = ("aead", "hp", "iv")

    def __init__(self, version: int, dcid: bytes, client: bool) -> None:
        salt, prefix = _SALTS[version]
        initial = hmac.new(salt, dcid, hashlib.sha256).digest()  # HKDF-Extract (RFC 5869)
        secret = _expand_label(initial, b"client in" if client else b"server in", 32)
        self.aead = AESGCM(_expand_label(secret, prefix + b"key", 16))
        self.iv = _expand_label(secret, prefix + b"iv", 12)
        hp = algorithms.AES(_expand_label(secret, prefix + b"hp", 16))
        self.hp = Cipher(hp, modes.ECB())  # noqa: S305 (RFC 9001 5.4.3: one block, a mask)


class _Crypto:
    """One direction's CRYPTO stream at the Initial level, reassembled from offsets."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: dict[int, bytes] = {}
        self.size = 0

    def add(self, offset: int, data: bytes) -> bool:
        if self.size + len(data) > MAX_CRYPTO or len(self.pieces) >= MAX_PIECES:
            return False
        if len(data) > len(self.pieces.get(offset, b"")):
            self.size += len(data) - len(self.pieces.get(offset, b""))
            self.pieces[offset] = data
        return True

    def first_message(self) -> tuple[int, bytes] | None:
        """The first handshake message, once the stream holds it from offset 0."""
        stream = bytearray()
        while True:
            piece = self.pieces.get(len(stream))
            if piece is None:
                ahead = [o for o in self.pieces if o < len(stream) < o + len(self.pieces[o])]
                if not ahead:
                    break
                piece = self.pieces[ahead[0]][len(stream) - ahead[0] :]
            stream += piece
            if len(stream) >= 4 and len(stream) >= 4 + int.from_bytes(stream[1:4], "big"):
                size = int.from_bytes(stream[1:4], "big")
                return stream[0], bytes(stream[4 : 4 + size])
        return None


class QuicParser(DatagramParser):
    id = "quic"

    def __init__(self, flow: FlowRef, limits: ParserLimits) -> None:
        super().__init__(flow, limits)
        self._client_side: Direction | None = None
        self._dcid: bytes | None = None  # of the client's first Initial (after any Retry)
        self._keys: dict[tuple[int, bytes, bool], _Keys] = {}
        self._crypto = {"client": _Crypto(), "server": _Crypto()}
        self._client: ClientHello | None = None
        self._server: ServerHello | None = None
        self._problems: list[str] = []
        self._seen = 0
        self._ts = 0
        self._done = False

    def datagram(self, direction: Direction, data: bytes, ts_ns: int, facts: ContentFacts) -> None:
        if self._done:
            return
        self._seen += 1
        if self._seen > MAX_DATAGRAMS:
            self._finish(facts)
            return
        pos = 0
        while pos < len(data) and data[pos] & 0x80:  # long headers; a short one ends the search
            pos = self._packet(direction, data, pos, ts_ns)
        if self._client is not None and self._server is not None:
            self._finish(facts)

    def close(self, ts_ns: int, facts: ContentFacts) -> None:
        self._finish(facts)

    # -- packets -----------------------------------------------------------------------------
    def _packet(self, direction: Direction, data: bytes, pos: int, ts_ns: int) -> int:
        """One long-header packet at ``pos`` (RFC 9000 section 17.2); returns where it ends."""
        if len(data) < pos + 7:
            raise ParserError("QUIC: a long header cut short")
        first = data[pos]
        version = int.from_bytes(data[pos + 1 : pos + 5], "big")
        dcid_len = data[pos + 5]
        dcid = data[pos + 6 : pos + 6 + dcid_len]
        p = pos + 6 + dcid_len
        if version not in _SALTS or dcid_len > 20 or p >= len(data):
            return len(data)  # version negotiation or a version we cannot read: pass over
        scid_len = data[p]
        p += 1 + scid_len
        kind = (first >> 4) & 3
        if kind == _RETRY[version]:
            self._dcid = None  # the client's next Initial carries the connection id to use
            return len(data)
        if kind == _INITIAL[version]:
            token_len, p = _varint(data, p)
            p += token_len
        length, p = _varint(data, p)
        end = p + length
        if end > len(data):
            raise ParserError("QUIC: a packet longer than its datagram")
        if kind == _INITIAL[version]:
            self._initial(direction, data, pos, p, end, version, dcid, ts_ns)
        return end

    def _initial(self, direction: Direction, data: bytes, start: int, pn_at: int, end: int,
                 version: int, dcid: bytes, ts_ns: int) -> None:  # fmt: skip
        if self._client_side is None:
            self._client_side = direction  # the first Initial comes from the client
        client = direction == self._client_side
        if client and self._dcid is None:
            self._dcid = dcid
        if self._dcid is None or pn_at + 20 > end:
            return
        key = (version, self._dcid, client)
        keys = self._keys.get(key) or self._keys.setdefault(key, _Keys(version, self._dcid, client))
        # Header protection (RFC 9001 section 5.4.2): the sample starts 4 bytes after the
        # packet number's offset.
        mask = keys.hp.encryptor().update(data[pn_at + 4 : pn_at + 20])
        first = data[start] ^ (mask[0] & 0x0F)
        pn_len = (first & 0x03) + 1
        pn = bytes(b ^ m for b, m in zip(data[pn_at : pn_at + pn_len], mask[1:], strict=False))
        header = bytes([first]) + data[start + 1 : pn_at] + pn
        nonce = (int.from_bytes(keys.iv, "big") ^ int.from_bytes(pn, "big")).to_bytes(12, "big")
        try:
            plain = keys.aead.decrypt(nonce, data[pn_at + pn_len : end], header)
        except InvalidTag:
            self._problem("quic_initial_undecryptable")
            return
        self._ts = self._ts or ts_ns
        self._frames("client" if client else "server", plain)

    def _frames(self, side: str, plain: bytes) -> None:
        """PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE: the frames an Initial may hold
        (RFC 9000 section 12.4)."""
        crypto = self._crypto[side]
        pos = 0
        while pos < len(plain):
            kind = plain[pos]
            pos += 1
            if kind == 0x00:  # PADDING fills most of a client's Initial: skip the run at once
                more = _NOT_PADDING.search(plain, pos)
                pos = more.start() if more else len(plain)
                continue
            if kind == 0x01:
                continue
            if kind in (0x02, 0x03):
                _, pos = _varint(plain, pos)  # largest acknowledged
                _, pos = _varint(plain, pos)  # delay
                ranges, pos = _varint(plain, pos)
                _, pos = _varint(plain, pos)  # first range
                for _ in range(min(2 * ranges + (3 if kind == 0x03 else 0), len(plain))):
                    _, pos = _varint(plain, pos)
            elif kind == 0x06:
                offset, pos = _varint(plain, pos)
                size, pos = _varint(plain, pos)
                if pos + size > len(plain):
                    raise ParserError("QUIC: a CRYPTO frame longer than its packet")
                if not crypto.add(offset, plain[pos : pos + size]):
                    self._problem("quic_crypto_budget")
                pos += size
            elif kind in (0x1C, 0x1D):
                return  # CONNECTION_CLOSE: nothing after it matters
            else:
                self._problem("quic_unexpected_frame")
                return
        self._hello(side)

    def _hello(self, side: str) -> None:
        if (self._client if side == "client" else self._server) is not None:
            return
        message = self._crypto[side].first_message()
        if message is None:
            return
        kind, body = message
        if side == "client" and kind == 1:
            self._client = parse_client_hello(body)
        elif side == "server" and kind == 2:
            self._server = parse_server_hello(body)

    def _problem(self, name: str) -> None:
        if name not in self._problems:
            self._problems.append(name)

    def _finish(self, facts: ContentFacts) -> None:
        if self._done:
            return
        self._done = True
        self._crypto = {}
        client, server = self._client, self._server
        if client is None and server is None:
            return
        problems = [*(client.problems if client else ()), *(server.problems if server else ())]
        facts.tls.append(
            TlsSeen(
                flow=self.flow,
                ts_ns=self._ts,
                version=version_name(server.negotiated) if server else None,
                client_version=version_name(client.version) if client else None,
                server_name=client.server_name if client else None,
                alpn=tuple(a.decode("utf-8", "backslashreplace") for a in client.alpn)
                if client
                else (),
                cipher=cipher_name(server.cipher) if server else None,
                ja3=ja3(client) if client else None,
                ja3s=ja3s(server) if server else None,
                ja4=ja4(client, "q") if client else None,
                alpn_selected=None,  # in QUIC the server's ALPN is in EncryptedExtensions
                problems=tuple(problems + self._problems),
            )
        )

"""SSH-2 as it crosses the wire (RFC 4253): clear-text identification and key exchange, then packets
whose sizes follow chacha20-poly1305@openssh.com and whose contents are random, as ciphertext is.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

MSG_KEXINIT, MSG_NEWKEYS = 20, 21
MSG_KEX_ECDH_INIT, MSG_KEX_ECDH_REPLY = 30, 31

OPENSSH_SERVER = "OpenSSH_9.6p1 Ubuntu-3ubuntu13.5"


@dataclass(frozen=True)
class KexOffer:
    """The name-lists of a KEXINIT (RFC 4253 7.1); the same lists serve both directions."""

    kex: str
    host_keys: str
    ciphers: str
    macs: str
    compression: str

    def payload(self, rng: random.Random) -> bytes:
        lists = [self.kex, self.host_keys, self.ciphers, self.ciphers, self.macs, self.macs]
        lists += [self.compression, self.compression, "", ""]  # no languages
        body = b"".join(_string(name.encode()) for name in lists)
        return bytes([MSG_KEXINIT]) + rng.randbytes(16) + body + b"\x00" + bytes(4)


_OPENSSH_CIPHERS = (
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,"
    "aes128-gcm@openssh.com,aes256-gcm@openssh.com"
)
_OPENSSH_MACS = (
    "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
    "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
    "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
)
_OPENSSH_KEX = (
    "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
    "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256"
)
_OPENSSH_HOST_KEYS = (
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
    "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,"
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    "rsa-sha2-512,rsa-sha2-256"
)

OPENSSH_CLIENT_OFFER = KexOffer(
    _OPENSSH_KEX + ",ext-info-c,kex-strict-c-v00@openssh.com",
    _OPENSSH_HOST_KEYS,
    _OPENSSH_CIPHERS,
    _OPENSSH_MACS,
    "none,zlib@openssh.com",
)
OPENSSH_SERVER_OFFER = KexOffer(
    _OPENSSH_KEX + ",kex-strict-s-v00@openssh.com",
    "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
    _OPENSSH_CIPHERS,
    _OPENSSH_MACS,
    "none,zlib@openssh.com",
)
# libssh 0.10, which hydra's ssh module uses: no post-quantum hybrid, so plain curve25519.
LIBSSH_CLIENT_OFFER = KexOffer(
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp521,diffie-hellman-group18-sha512,diffie-hellman-group16-sha512,"
    "diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,ext-info-c",
    "ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,rsa-sha2-512,"
    "rsa-sha2-256,ssh-rsa",
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,"
    "aes192-ctr,aes128-ctr",
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    "hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    "none",
)

# Sizes of the ephemeral shares (RFC 8731; draft-josefsson-ntruprime-ssh): sntrup761 public key
# 1158 bytes and ciphertext 1039 bytes, each followed by a 32-byte X25519 share.
SNTRUP761_CLIENT_SHARE = 1158 + 32
SNTRUP761_SERVER_SHARE = 1039 + 32
CURVE25519_SHARE = 32


def identification(software: str) -> bytes:
    return f"SSH-2.0-{software}\r\n".encode()


def _string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def _padding(aligned: int) -> int:
    """Padding that brings ``aligned`` bytes to a multiple of 8, at least 4 (RFC 4253 6)."""
    padding = 8 - aligned % 8
    return padding + 8 if padding < 4 else padding


def binary_packet(payload: bytes, rng: random.Random) -> bytes:
    """An unencrypted binary packet: length, padding length, payload, random padding."""
    padding = _padding(4 + 1 + len(payload))
    header = struct.pack("!IB", 1 + len(payload) + padding, padding)
    return header + payload + rng.randbytes(padding)


def ecdh_init(rng: random.Random, share_len: int) -> bytes:
    return binary_packet(bytes([MSG_KEX_ECDH_INIT]) + _string(rng.randbytes(share_len)), rng)


def ecdh_reply_and_newkeys(rng: random.Random, host_key: bytes, share_len: int) -> bytes:
    """The server's reply (RFC 5656 4: host key, share, signature) and its NEWKEYS."""
    key_blob = _string(b"ssh-ed25519") + _string(host_key)
    signature = _string(b"ssh-ed25519") + _string(rng.randbytes(64))
    payload = bytes([MSG_KEX_ECDH_REPLY]) + _string(key_blob)
    payload += _string(rng.randbytes(share_len)) + _string(signature)
    return binary_packet(payload, rng) + newkeys(rng)


def newkeys(rng: random.Random) -> bytes:
    return binary_packet(bytes([MSG_NEWKEYS]), rng)


def encrypted(rng: random.Random, *payload_lens: int) -> bytes:
    """Packets of chacha20-poly1305@openssh.com carrying payloads of these sizes.

    The 4-byte length is encrypted separately and left out of the block alignment; a 16-byte
    Poly1305 tag follows (OpenSSH PROTOCOL.chacha20poly1305).
    """
    return b"".join(rng.randbytes(4 + 1 + n + _padding(1 + n) + 16) for n in payload_lens)


#: CHANNEL_DATA (RFC 4254 5.2): message code, channel, string length; a keystroke adds one byte.
CHANNEL_DATA_HEADER = 9
KEYSTROKE = CHANNEL_DATA_HEADER + 1

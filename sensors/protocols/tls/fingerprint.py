"""TLS fingerprints of a handshake: JA3 and JA3S (Salesforce, BSD-3-Clause) and JA4 (FoxIO's TLS
client fingerprint, BSD-3-Clause; the other JA4+ methods, JA4S included, are under the FoxIO
License 1.1 and are not implemented here).

* JA3: MD5 of ``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats``, values
  in decimal joined by ``-``, GREASE (RFC 8701) left out (github.com/salesforce/ja3).
* JA3S: MD5 of ``SSLVersion,Cipher,Extensions`` of the ServerHello.
* JA4: ``t13d1516h2_8daaf6152771_e5627efa2ab1`` (github.com/FoxIO-LLC/ja4,
  technical_details/JA4.md): protocol, version, SNI or not, cipher and extension counts, ALPN,
  then truncated SHA-256 of the sorted ciphers and of the sorted extensions (without SNI and
  ALPN) with the signature algorithms in their order.

These are short functions over the parsed hellos; no library implements them over our types
(the reference implementations read tshark's JSON).
"""

from __future__ import annotations

import hashlib

from sensors.protocols.tls.hello import (
    ALPN,
    SERVER_NAME,
    ClientHello,
    ServerHello,
)
from sensors.protocols.tls.suites import GREASE

_JA4_VERSIONS = {
    0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
    0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3",
}  # fmt: skip
_EMPTY = "000000000000"


def _dash(values: tuple[int, ...]) -> str:
    return "-".join(str(v) for v in values if v not in GREASE)


def ja3_string(hello: ClientHello) -> str:
    return ",".join(
        (
            str(hello.version),
            _dash(hello.ciphers),
            _dash(hello.extensions),
            _dash(hello.supported_groups),
            "-".join(str(v) for v in hello.ec_point_formats),
        )
    )


def ja3(hello: ClientHello) -> str | None:
    """None for an SSL 2.0 hello, which JA3 does not define."""
    if hello.sslv2:
        return None
    return hashlib.md5(ja3_string(hello).encode(), usedforsecurity=False).hexdigest()


def ja3s_string(hello: ServerHello) -> str:
    return f"{hello.version},{hello.cipher},{_dash(hello.extensions)}"


def ja3s(hello: ServerHello) -> str:
    return hashlib.md5(ja3s_string(hello).encode(), usedforsecurity=False).hexdigest()


def _alpn_chars(value: bytes) -> str:
    """First and last characters of the first ALPN value, or of its hex form when either is not
    alphanumeric (JA4.md, "ALPN Extension Value")."""
    if not value:
        return "00"
    first, last = chr(value[0]), chr(value[-1])
    if first.isascii() and first.isalnum() and last.isascii() and last.isalnum():
        return first + last
    hexed = value.hex()
    return hexed[0] + hexed[-1]


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ja4_raw(hello: ClientHello, transport: str = "t") -> tuple[str, str, str]:
    """The three parts before hashing: ``t13d1516h2``, the sorted ciphers, and the sorted
    extensions with the signature algorithms (JA4_r without its prefix)."""
    versions = [v for v in hello.supported_versions if v not in GREASE]
    version = _JA4_VERSIONS.get(max(versions) if versions else hello.version, "00")
    ciphers = [c for c in hello.ciphers if c not in GREASE]
    extensions = [e for e in hello.extensions if e not in GREASE]
    sni = "d" if SERVER_NAME in extensions else "i"
    alpn = _alpn_chars(hello.alpn[0]) if hello.alpn else "00"
    head = f"{transport}{version}{sni}{min(len(ciphers), 99):02d}{min(len(extensions), 99):02d}"
    sorted_ciphers = ",".join(sorted(f"{c:04x}" for c in ciphers))
    rest = ",".join(sorted(f"{e:04x}" for e in extensions if e not in (SERVER_NAME, ALPN)))
    algorithms = ",".join(f"{s:04x}" for s in hello.signature_algorithms if s not in GREASE)
    if rest and algorithms:
        rest = f"{rest}_{algorithms}"
    return head + alpn, sorted_ciphers, rest


def ja4(hello: ClientHello, transport: str = "t") -> str | None:
    """None for an SSL 2.0 hello (JA4 reads TLS ClientHellos)."""
    if hello.sslv2:
        return None
    head, ciphers, extensions = ja4_raw(hello, transport)
    b = _sha12(ciphers) if ciphers else _EMPTY
    c = _sha12(extensions) if extensions else _EMPTY
    return f"{head}_{b}_{c}"

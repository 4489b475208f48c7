"""Cipher-suite, version and alert names: our table against scapy's copy of the IANA registry."""

from __future__ import annotations

import pytest
from scapy.layers.tls.crypto.suites import _tls_cipher_suites as scapy_suites

from sensors.protocols.tls.suites import (
    CIPHER_SUITES,
    GREASE,
    alert_name,
    cipher_name,
    version_name,
)


def test_every_suite_scapy_names_we_name_the_same() -> None:
    theirs = {code: name for code, name in scapy_suites.items() if code <= 0xFFFF}
    assert len(theirs) > 250
    differ = {code: (CIPHER_SUITES.get(code), name) for code, name in theirs.items()
              if CIPHER_SUITES.get(code) != name}  # fmt: skip
    assert differ == {}


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), (0x1301, "TLS_AES_128_GCM_SHA256"),
        (0x0004, "TLS_RSA_WITH_RC4_128_MD5"), (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
        (0xC100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"), (0x00C6, "TLS_SM4_GCM_SM3"),
        (0x0700C0, "SSLv20_CK_DES_192_EDE3_CBC_WITH_MD5"), (0xFFFF, "unknown-65535"),
    ],
)  # fmt: skip
def test_cipher_names(code: int, name: str) -> None:
    assert cipher_name(code) == name


@pytest.mark.parametrize(
    ("code", "name"),
    [(0x0300, "SSLv3"), (0x0301, "TLSv10"), (0x0303, "TLSv12"), (0x0304, "TLSv13"),
     (0x0002, "SSLv2"), (0xFEFD, "DTLSv12"), (0x7F17, "TLSv13-draft23"),
     (0x7E01, "unknown-32257")],
)  # fmt: skip
def test_version_names_follow_zeek(code: int, name: str) -> None:
    assert version_name(code) == name


def test_grease_and_alerts() -> None:
    assert len(GREASE) == 16 and 0x0A0A in GREASE and 0xFAFA in GREASE and 0x0A0B not in GREASE
    assert alert_name(40) == "handshake_failure" and alert_name(250) == "unknown-250"

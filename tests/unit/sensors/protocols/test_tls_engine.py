"""TLS through the whole sensor: captures on disk, reassembly, protocol recognition, ECS records."""

from __future__ import annotations

from pathlib import Path

import pytest
from contentkit import Conversation, facts, run, write_pcap
from cryptography import x509
from tlskit import Flights, chain, tls12_session

from sensors.protocols.ecs import content_documents
from sensors.protocols.tls.dn import openssl_dn


def capture(tmp_path: Path, flights: Flights, *, port: int = 443, size: int = 1460,
            before: Flights = ()) -> Path:  # fmt: skip
    conv = Conversation("192.0.2.10", "198.51.100.20", 50000, port).handshake()
    for direction, data in [*before, *flights]:
        conv.say("c" if direction == "orig" else "s", data, size)
    return write_pcap(tmp_path / "tls.pcap", conv.close().frames)


@pytest.mark.parametrize("port", [443, 9443])  # a well-known port, and one found by content
def test_a_tls12_connection_becomes_a_tls_record_and_two_certificates(
    tmp_path: Path, port: int
) -> None:
    results, engine = run(capture(tmp_path, tls12_session(), port=port))
    f = facts(results)
    (tls,) = f.tls
    assert tls.server_name == "portal.city.example" and tls.established
    assert (tls.flow.resp_port, tls.flow.orig_ip) == (port, "192.0.2.10")
    assert [c.position for c in f.certificates] == [0, 1]
    assert engine.content.stats["protocol_tls"] == 1


def test_smtp_starttls_on_port_25(tmp_path: Path) -> None:
    before: Flights = [("resp", b"220 mail ESMTP\r\n"), ("orig", b"EHLO c\r\nSTARTTLS\r\n"),
                       ("resp", b"250 mail\r\n220 Ready\r\n")]  # fmt: skip
    results, engine = run(capture(tmp_path, tls12_session(), port=25, before=before))
    assert [t.version for t in facts(results).tls] == ["TLSv12"]
    assert engine.content.stats["protocol_starttls"] == 1


def test_tiny_segments_out_of_order_still_give_the_handshake(tmp_path: Path) -> None:
    """The ClientHello in 3-byte segments sent last to first: reassembly puts them back."""
    conv = Conversation("192.0.2.10", "198.51.100.20", 50001, 443).handshake()
    session = tls12_session()
    conv.send("c", list(reversed(conv.segments("c", session[0][1], 3))))
    for direction, data in session[1:]:
        conv.say("c" if direction == "orig" else "s", data, 200)
    results, _ = run(write_pcap(tmp_path / "t.pcap", conv.close().frames))
    (tls,) = facts(results).tls
    assert tls.server_name == "portal.city.example" and tls.established


def test_ecs_documents_for_tls_and_x509(tmp_path: Path) -> None:
    results, _ = run(capture(tmp_path, tls12_session()))
    docs = content_documents(facts(results), "tap-1")
    (tls,) = docs["tls"]
    assert tls["tls"]["client"]["server_name"] == "portal.city.example"
    assert (tls["tls"]["version_protocol"], tls["tls"]["version"]) == ("tls", "1.2")
    assert tls["tls"]["next_protocol"] == "h2" and tls["tls"]["established"] is True
    assert tls["tls"]["cipher"] == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    assert tls["cityshield"]["tls"]["ja4"].startswith("t13d1514h2_")
    leaf, ca = docs["x509"]
    assert leaf["x509"]["subject"]["distinguished_name"] == (
        "emailAddress=pki@city.example,CN=portal.city.example,street=1 Civic Square,C=CN"
    )
    assert leaf["x509"]["issuer"]["distinguished_name"] == "CN=City Root,O=City CA,C=CN"
    assert leaf["x509"]["alternative_names"] == ["portal.city.example"]
    assert leaf["cityshield"]["x509"] == {
        "position": 0,
        "chain_length": 2,
        "server_name": "portal.city.example",
        "role": "server",
        "problems": [],
    }
    assert (
        ca["tls"]["server"]["hash"]["sha256"] == tls["cityshield"]["tls"]["chain_sha256"][1].upper()
    )


def test_openssl_names_for_attributes_rfc4514_does_not_name() -> None:
    cert = x509.load_der_x509_certificate(chain()[0])
    assert openssl_dn(cert.subject) == (
        "emailAddress=pki@city.example,CN=portal.city.example,street=1 Civic Square,C=CN"
    )
    assert "1.2.840.113549.1.9.1" in cert.subject.rfc4514_string()  # what it would be without

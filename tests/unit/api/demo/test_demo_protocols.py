"""What the connections carry parses as the protocol they claim, with dpkt and cryptography."""

from __future__ import annotations

import gzip
import struct
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dpkt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import PolicyBuilder, Store

if TYPE_CHECKING:
    from .conftest import Observed

_CAPTURE_TIME = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def _of(observed: list[Observed], service: str) -> list[Observed]:
    return [o for o in observed if o.entry.service == service]


def _messages(stream: bytes, kind: type[dpkt.http.Message]) -> list[dpkt.http.Message]:
    out = []
    while stream:
        message = kind(stream)
        out.append(message)
        stream = message.data  # what follows this message on the connection
        message.data = b""
    return out


def test_http_keep_alive_chunked_gzip_and_login(observed: list[Observed]) -> None:
    conns = _of(observed, "http")
    exchanges = [
        (_messages(o.orig.payload, dpkt.http.Request), o.resp.payload)
        for o in conns
        if o.entry.conn_state == "SF"
    ]
    requests = [r for rs, _ in exchanges for r in rs]
    assert max(len(rs) for rs, _ in exchanges) >= 3  # several requests on one connection
    login = next(r for r in requests if r.method == "POST")
    assert login.uri == "/login" and b"username=" in login.body
    keep_alive = next(stream for rs, stream in exchanges if len(rs) >= 5)
    responses = [dpkt.http.Response(stream) for stream in _split_responses(keep_alive)]
    chunked = next(r for r in responses if r.headers.get("transfer-encoding") == "chunked")
    assert b"<title>News" in chunked.body  # dpkt has joined the chunks
    zipped = next(r for r in responses if r.headers.get("content-encoding") == "gzip")
    assert b"<title>Services" in gzip.decompress(zipped.body)


def _split_responses(stream: bytes) -> list[bytes]:
    parts = []
    while stream:
        response = dpkt.http.Response(stream)
        size = len(stream) - len(response.data)
        parts.append(stream[:size])
        stream = stream[size:]
    return parts


def test_https_handshake_sni_alpn_and_a_verifiable_chain(observed: list[Observed]) -> None:
    conns = _of(observed, "ssl")
    assert len(conns) >= 10
    first = conns[0]
    records, _ = dpkt.ssl.tls_multi_factory(first.orig.payload)
    hello = dpkt.ssl.TLSHandshake(records[0].data).data
    extensions = dict(hello.extensions)
    assert b"portal.city.example" in extensions[0]  # server_name
    assert b"http/1.1" in extensions[16]  # ALPN
    server_records, _ = dpkt.ssl.tls_multi_factory(first.resp.payload)
    kinds = [(r.type, r.data[0]) for r in server_records[:4]]
    assert kinds == [(22, 2), (22, 11), (22, 12), (22, 14)]  # Hello, Certificate, SKE, Done
    chain = _certificates(server_records[1].data)
    leaf, root = chain
    verifier = (
        PolicyBuilder()
        .store(Store([root]))
        .time(_CAPTURE_TIME)
        .build_server_verifier(x509.DNSName("portal.city.example"))
    )
    assert verifier.verify(leaf, []) == [leaf, root]
    # The ServerKeyExchange carries a valid signature over both randoms and the parameters.
    client_random = records[0].data[6:38]
    server_random = server_records[0].data[6:38]
    ske = server_records[2].data[4:]
    params, rest = ske[:36], ske[36:]
    (sig_len,) = struct.unpack("!H", rest[2:4])
    public_key = leaf.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        rest[4 : 4 + sig_len], client_random + server_random + params, ec.ECDSA(hashes.SHA256())
    )


def _certificates(handshake: bytes) -> list[x509.Certificate]:
    body = handshake[4 + 3 :]  # message header, then the list's length
    out = []
    while body:
        size = int.from_bytes(body[:3], "big")
        out.append(x509.load_der_x509_certificate(body[3 : 3 + size]))
        body = body[3 + size :]
    return out


def test_dns_answers(observed: list[Observed]) -> None:
    answers = [
        dpkt.dns.DNS(o.resp.payload) for o in _of(observed, "dns") if o.entry.transport == "udp"
    ]
    seen = {(rr.type) for a in answers for rr in a.an}
    assert {dpkt.dns.DNS_A, dpkt.dns.DNS_AAAA, dpkt.dns.DNS_MX, dpkt.dns.DNS_TXT} <= seen
    assert any([rr.type for rr in a.an] == [5, 5, 1] for a in answers)  # a CNAME chain
    assert sum(a.rcode == dpkt.dns.DNS_RCODE_NXDOMAIN for a in answers) == 1
    truncated = [a for a in answers if a.op & 0x0200]
    assert len(truncated) == 1
    (over_tcp,) = [o for o in _of(observed, "dns") if o.entry.transport == "tcp"]
    tcp_answer = dpkt.dns.DNS(over_tcp.resp.payload[2:])
    assert tcp_answer.id == int.from_bytes(over_tcp.orig.payload[2:4], "big")
    assert [rr.type for rr in tcp_answer.an] == [dpkt.dns.DNS_TXT]


@pytest.mark.parametrize(
    ("service", "client_says", "server_says"),
    [
        ("smtp", b"MAIL FROM:<", b"250 2.0.0 Ok: queued as "),
        ("imap", b"a5 LOGOUT", b"* OK [CAPABILITY IMAP4rev1"),
        ("ssh", b"SSH-2.0-", b"SSH-2.0-OpenSSH_9.6"),
    ],
)
def test_clear_text_dialogues(
    observed: list[Observed], service: str, client_says: bytes, server_says: bytes
) -> None:
    conns = _of(observed, service)
    assert conns
    for o in conns:
        assert client_says in o.orig.payload and server_says in o.resp.payload


def test_ssh_kexinit_follows_the_banner(observed: list[Observed]) -> None:
    for o in _of(observed, "ssh"):
        stream = o.resp.payload
        rest = stream[stream.index(b"\r\n") + 2 :]
        length, padding, code = struct.unpack("!IBB", rest[:6])
        assert code == 20 and length % 8 == 4 and 4 <= padding < 16  # KEXINIT (RFC 4253 6)


def test_ping_and_ntp(observed: list[Observed]) -> None:
    for o in (o for o in observed if o.entry.transport == "icmp"):
        requests = [
            (p.ip.data.data.id, p.ip.data.data.seq, p.ip.data.data.data) for p in o.orig.packets
        ]
        replies = [
            (p.ip.data.data.id, p.ip.data.data.seq, p.ip.data.data.data) for p in o.resp.packets
        ]
        assert requests == replies
    (ntp,) = _of(observed, "ntp")
    request, reply = dpkt.ntp.NTP(ntp.orig.payload), dpkt.ntp.NTP(ntp.resp.payload)
    assert (request.mode, reply.mode) == (dpkt.ntp.CLIENT, dpkt.ntp.SERVER)
    assert reply.originate_time == request.transmit_time
    assert (ntp.entry.orig_p, ntp.entry.resp_p) == (123, 123)

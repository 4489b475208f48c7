"""Citizens' connections to the portal: HTTP/1.1 in clear and the same pages over TLS 1.2."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from api.demo import tls
from api.demo.capture import Scene
from api.demo.certificate import PORTAL_NAME, DemoCredential, portal_credential
from api.demo.http import HttpRequest, response
from api.demo.network import MS, PORTAL, SECOND, Host, dmz_host
from api.demo.tcp import TcpConnection

#: nginx's default keepalive_timeout: an idle keep-alive connection is closed by the server.
KEEPALIVE_TIMEOUT_US = 75 * SECOND
_SERVER_US = 900  # nginx answering from its page cache


@dataclass(frozen=True)
class Citizen:
    host: Host
    user_agent: str
    rtt_us: int


@dataclass(frozen=True)
class Exchange:
    """A request, the response it gets (made for the time it is sent), and the pause before it."""

    request: HttpRequest
    respond: Callable[[int], bytes]
    think_us: int = 0


def http_connection(scene: Scene, citizen: Citizen, at: int, exchanges: list[Exchange]) -> int:
    """Requests one after another on one keep-alive connection, which nginx closes when idle."""
    conn = _connect(scene, citizen, 80, "http")
    t = conn.open(at)
    for exchange in exchanges:
        t = conn.send(True, exchange.request.encode(), t + exchange.think_us)
        t = conn.send(False, exchange.respond(t), t + _SERVER_US)
    return conn.close(False, t + KEEPALIVE_TIMEOUT_US)


def rejected_upload(scene: Scene, citizen: Citizen, at: int, body: bytes) -> int:
    """An upload over nginx's client_max_body_size: 413, then a reset, since the unread body is
    discarded (Linux answers close() with unread data by RST, RFC 2525 2.17)."""
    conn = _connect(scene, citizen, 80, "http")
    # The client announces 7 MiB; nginx answers after the first segments of the body.
    headers = [("Content-Type", "application/pdf"), ("Content-Length", "7340032")]
    path = "/services/parking/documents"
    head = HttpRequest("POST", path, PORTAL_NAME, citizen.user_agent, headers).encode()
    t = conn.open(at)
    t = conn.send(True, head + body, t + 2 * MS)
    page = b"<html><head><title>413 Request Entity Too Large</title></head></html>\n"
    t = conn.send(False, response(413, "Request Entity Too Large", page, at_us=t, close=True), t)
    return conn.abort(False, t + 50)


def https_connection(
    scene: Scene, citizen: Citizen, at: int, exchanges: list[Exchange], *, abort: bool = False
) -> int:
    """A full TLS 1.2 handshake with SNI and ALPN, then the exchanges as encrypted records.

    The client ends with close_notify and FIN, or (``abort``) with a RST, as a browser does when a
    tab is closed on a connection it holds open.
    """
    conn = _connect(scene, citizen, 443, "ssl")
    t = conn.open(at)
    offer = TlsOffer(sni=PORTAL_NAME, alpn=["h2", "http/1.1"], session_id=scene.rng.randbytes(32))
    t, to_server, to_client = tls_handshake(conn, scene.rng, offer, portal_credential(), t)
    for exchange in exchanges:
        request = to_server.seal(tls.APPLICATION_DATA, len(exchange.request.encode()))
        t = conn.send(True, request, t + exchange.think_us)
        body = exchange.respond(t)
        t = conn.send(False, to_client.seal(tls.APPLICATION_DATA, len(body)), t + _SERVER_US)
    if abort:
        return conn.abort(True, t + 2 * SECOND)
    t = conn.send(True, to_server.close_notify(), t + 20 * SECOND)
    return conn.close(True, t + 100)


@dataclass(frozen=True)
class TlsOffer:
    """What a client puts in its ClientHello besides the fixed cipher suites and groups."""

    sni: str | None
    alpn: list[str]
    session_id: bytes


def tls_handshake(
    conn: TcpConnection, rng: random.Random, offer: TlsOffer, credential: DemoCredential, at: int
) -> tuple[int, tls.RecordProtection, tls.RecordProtection]:
    """ClientHello, the server's flight, the client's key share and Finished, the server's Finished.

    Returns when the client may send application data, and both directions' record protection.
    """
    client_random, server_random = rng.randbytes(32), rng.randbytes(32)
    hello = tls.client_hello(client_random, offer.session_id, sni=offer.sni, alpn=offer.alpn)
    t = conn.send(True, hello, at + 1 * MS)
    alpn = "http/1.1" if "http/1.1" in offer.alpn else None
    share = tls.x25519_share(rng)
    flight = tls.server_flight(
        credential, client_random, server_random, rng.randbytes(32), share, alpn=alpn
    )
    t = conn.send(False, flight, t + 2 * MS)  # an ECDSA signature per handshake
    to_server, to_client = tls.RecordProtection(rng), tls.RecordProtection(rng)
    finish = tls.client_key_exchange(tls.x25519_share(rng)) + to_server.finished()
    t = conn.send(True, finish, t + 1 * MS)
    t = conn.send(False, to_client.finished(), t + 300)
    return t, to_server, to_client


def _connect(scene: Scene, citizen: Citizen, port: int, service: str) -> TcpConnection:
    portal = dmz_host(PORTAL)
    return TcpConnection.start(
        scene, citizen.host, portal, port, label="benign", service=service, rtt_us=citizen.rtt_us
    )

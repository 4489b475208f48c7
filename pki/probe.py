"""Active checks: connect to host:port (directly, or SMTP with STARTTLS), take the chain the server
sends and its stapled OCSP answer.

pyOpenSSL rather than ``ssl``: Python 3.11's ``ssl`` gives the leaf only (the whole chain arrives
in 3.13) and never the OCSP staple. Nothing is verified here: the chain goes to ``ChainChecker``.
Every wait has a deadline and every read a size bound: the server may be the attacker.
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from OpenSSL import SSL

from cityshield.errors import CityShieldError

#: Longest SMTP reply line read (RFC 5321 section 4.5.3.1.5: 512 octets), and lines per reply.
MAX_SMTP_LINE = 1024
MAX_SMTP_LINES = 100

StartTls = Literal["smtp"]


class ProbeError(CityShieldError):
    """The server could not be reached or did not complete a handshake; ``where`` is host:port."""


@dataclass(slots=True)
class Handshake:
    chain: list[x509.Certificate] = field(default_factory=list)
    stapled_ocsp: bytes | None = None
    version: str | None = None
    #: The address connected to (what alerts name as the destination).
    peer: str | None = None


def fetch_chain(
    host: str,
    port: int,
    *,
    server_name: str | None = None,
    starttls: StartTls | None = None,
    timeout: float = 10.0,
) -> Handshake:
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    address = _resolve(host, port, where)
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise ProbeError(f"cannot connect: {exc.strerror or exc}", where=where) from None
    try:
        if starttls == "smtp":
            _smtp_starttls(sock, where)
        handshake = _handshake(sock, server_name or host, deadline, where)
        handshake.peer = address
        return handshake
    finally:
        sock.close()


def _resolve(host: str, port: int, where: str) -> str:
    """The first address of ``host``; addresses no e-government service has (link-local, where
    cloud metadata services answer; unspecified; multicast) are refused, as ``pki.fetch`` does."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ProbeError(f"cannot resolve {host}: {exc}", where=where) from None
    if not infos:
        raise ProbeError(f"cannot resolve {host}", where=where)
    address = str(infos[0][4][0]).split("%")[0]
    ip = ipaddress.ip_address(address)
    if ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        raise ProbeError(f"refusing to connect to {ip}", where=where)
    return address


def _handshake(sock: socket.socket, server_name: str, deadline: float, where: str) -> Handshake:
    staple: dict[str, bytes] = {}

    def on_staple(_conn: SSL.Connection, data: bytes, _arg: object) -> bool:
        if data:
            staple["ocsp"] = data
        return True  # judged by the checker, not here

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    context.set_ocsp_client_callback(on_staple)
    conn = SSL.Connection(context, sock)
    with contextlib.suppress(UnicodeError):  # a name IDNA cannot encode goes without SNI
        conn.set_tlsext_host_name(server_name.encode("idna"))
    conn.request_ocsp()
    conn.set_connect_state()
    sock.setblocking(False)  # pyOpenSSL and socket timeouts do not mix: wait with select
    while True:
        try:
            conn.do_handshake()
            break
        except (SSL.WantReadError, SSL.WantWriteError):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProbeError("TLS handshake timed out", where=where) from None
            select.select([sock], [sock], [], min(left, 0.5))
        except SSL.Error as exc:
            raise ProbeError(f"TLS handshake failed: {exc}", where=where) from None
    chain = conn.get_peer_cert_chain(as_cryptography=True) or []
    return Handshake(list(chain), staple.get("ocsp"), conn.get_protocol_version_name())


def _smtp_starttls(sock: socket.socket, where: str) -> None:
    """RFC 3207: greeting, EHLO, STARTTLS, 220; then TLS on the same connection."""
    reader = sock.makefile("rb")
    _smtp_reply(reader, 220, where)
    sock.sendall(b"EHLO cityshield.invalid\r\n")
    lines = _smtp_reply(reader, 250, where)
    if not any(line[4:].upper().startswith(b"STARTTLS") for line in lines):
        raise ProbeError("the SMTP server does not offer STARTTLS", where=where)
    sock.sendall(b"STARTTLS\r\n")
    _smtp_reply(reader, 220, where)


def _smtp_reply(reader: object, expect: int, where: str) -> list[bytes]:
    lines: list[bytes] = []
    readline = reader.readline  # type: ignore[attr-defined]
    while len(lines) < MAX_SMTP_LINES:
        try:
            line: bytes = readline(MAX_SMTP_LINE)
        except OSError as exc:
            raise ProbeError(f"SMTP: {exc}", where=where) from None
        if not line:
            raise ProbeError("SMTP: connection closed", where=where)
        lines.append(line.rstrip(b"\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    code = lines[-1][:3]
    if code != str(expect).encode():
        text = lines[-1][:200].decode("ascii", "replace")
        raise ProbeError(f"SMTP: expected {expect}, got {text!r}", where=where)
    return lines

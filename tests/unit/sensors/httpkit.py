"""Builders for the HTTP parser tests: a parser fed (direction, bytes) steps, and HTTP messages."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable

from sensors.events import ContentFacts, Direction, FlowRef
from sensors.protocols.base import ParserLimits
from sensors.protocols.http import HttpParser

FLOW = FlowRef("f1", "1:x", "tcp", "10.0.0.1", 40000, "10.0.0.80", 80, 0, 0, "t.pcap")
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR_SHA256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"

Steps = Iterable[tuple[Direction, bytes]]


def parse(steps: Steps, limits: ParserLimits | None = None, piece: int = 0) -> ContentFacts:
    """Feed the steps (cut in pieces of ``piece`` bytes when given) and close."""
    facts = ContentFacts()
    p = HttpParser(FLOW, limits or ParserLimits())
    ts = 1_000
    for direction, data in steps:
        size = piece or max(len(data), 1)
        for i in range(0, len(data), size):
            ts += 1
            p.feed(direction, data[i : i + size], ts, facts)
    p.close(ts + 1, facts)
    return facts


def request(method: str = "GET", target: str = "/", *headers: str, body: bytes = b"",
            version: str = "HTTP/1.1") -> bytes:  # fmt: skip
    lines = [f"{method} {target} {version}", "Host: portal.city.example", *headers]
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding"))
                        for h in headers):  # fmt: skip
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def response(status: int = 200, *headers: str, body: bytes = b"", length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status} Reason", *headers]
    if length and not any(h.lower().startswith("transfer-encoding") for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body: bytes, size: int = 7, ext: str = "") -> bytes:
    out = b"".join(f"{len(body[i : i + size]):x}{ext}\r\n".encode() + body[i : i + size] + b"\r\n"
                   for i in range(0, len(body), size))  # fmt: skip
    return out + b"0\r\nX-Trailer: 1\r\n\r\n"


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

"""HTTP/1.1 messages (RFC 9112) of the city portal: requests, responses and the pages they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from api.demo.deflate import gzip_compress

SERVER = "nginx/1.24.0"

_STYLE = b"""body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b}
header{background:#00457c;color:#fff;padding:1rem 2rem}nav a{color:#fff;margin-right:1rem}
main{max-width:60rem;margin:2rem auto;padding:0 1rem}.card{border:1px solid #ccd;padding:1rem}
form label{display:block;margin:.5rem 0}footer{font-size:.8rem;color:#555;padding:2rem}
"""


def _page(title: str, body: str) -> bytes:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title} - City of Example</title>\n"
        '<link rel="stylesheet" href="/static/site.css">\n</head>\n<body>\n'
        '<header><h1>City of Example</h1><nav><a href="/">Home</a><a href="/services">'
        'Services</a><a href="/news">News</a><a href="/login">Sign in</a></nav></header>\n'
        f"<main>\n{body}\n</main>\n<footer>City of Example - Citizen Services Portal</footer>\n"
        "</body>\n</html>\n"
    ).encode()


_SERVICES = "".join(
    f'<div class="card"><h3>{name}</h3><p>{text}</p><a href="/services/{slug}">Start</a></div>\n'
    for slug, name, text in [
        ("parking", "Residential parking permit", "Apply for or renew a permit for your street."),
        ("waste", "Bulky waste collection", "Book a collection date for furniture and appliances."),
        ("id-card", "Identity card appointment", "Reserve a slot at a citizen office near you."),
        ("tax", "Property tax", "View your assessment and pay online."),
        ("birth", "Birth certificate", "Order a certified copy by post or download."),
        ("events", "Event permit", "Register a street party, market or public gathering."),
    ]
)
_NEWS = "".join(
    f"<article><h3>{headline}</h3><p>Published 2026-0{m}-{d:02d}. {text}</p></article>\n"
    for m, d, headline, text in [
        (3, 1, "Spring street cleaning", "Sweepers will visit every district during March."),
        (2, 27, "New citizen office in the north", "Opening hours are 8:00 to 18:00 on weekdays."),
        (2, 20, "Online parking permits", "Permits can now be renewed entirely online."),
        (2, 12, "Council meeting minutes", "The minutes of the February meeting are available."),
        (2, 3, "Winter service", "Report icy pavements through the portal or by phone."),
    ]
)

PAGES: dict[str, tuple[str, bytes]] = {
    "/": ("text/html; charset=utf-8", _page("Home", "<h2>Welcome</h2>\n" + _SERVICES[:700])),
    "/services": ("text/html; charset=utf-8", _page("Services", "<h2>Services</h2>\n" + _SERVICES)),
    "/services/parking": (
        "text/html; charset=utf-8",
        _page("Parking permit", "<h2>Residential parking permit</h2><p>Sign in to apply.</p>"),
    ),
    "/news": ("text/html; charset=utf-8", _page("News", "<h2>News</h2>\n" + _NEWS)),
    "/login": (
        "text/html; charset=utf-8",
        _page(
            "Sign in",
            '<form method="post" action="/login"><label>Citizen ID <input name="username">'
            '</label><label>Password <input type="password" name="password"></label>'
            '<input type="hidden" name="csrf" value="7f3a9c0e4b2d"><button>Sign in</button></form>',
        ),
    ),
    "/account": (
        "text/html; charset=utf-8",
        _page("My account", "<h2>Your requests</h2><p>None.</p>"),
    ),
    "/static/site.css": ("text/css", _STYLE),
    "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /account\n"),
}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    host: str
    user_agent: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def encode(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}"]
        lines.append(f"User-Agent: {self.user_agent}")
        lines += [
            "Accept: text/html,application/xhtml+xml,*/*;q=0.8",
            "Accept-Language: en-GB,en;q=0.9",
            "Accept-Encoding: gzip, deflate, br",
            "Connection: keep-alive",
        ]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def http_date(at_us: int) -> str:
    """An IMF-fixdate (RFC 9110 5.6.7) for a network time in microseconds."""
    return format_datetime(datetime.fromtimestamp(at_us // 1_000_000, UTC), usegmt=True)


def response(
    status: int,
    reason: str,
    body: bytes,
    *,
    at_us: int,
    content_type: str = "text/html; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
    gzip: bool = False,
    chunk_sizes: list[int] | None = None,
    close: bool = False,
) -> bytes:
    """A response; ``gzip`` compresses the body, ``chunk_sizes`` sends it chunked (RFC 9112 7.1)."""
    lines = [f"HTTP/1.1 {status} {reason}", f"Server: {SERVER}", f"Date: {http_date(at_us)}"]
    lines.append(f"Content-Type: {content_type}")
    if gzip:
        body = gzip_compress(body)
        lines.append("Content-Encoding: gzip")
    if chunk_sizes is None:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    else:
        lines.append("Transfer-Encoding: chunked")
        payload = _chunked(body, chunk_sizes)
    lines.append("Connection: close" if close else "Connection: keep-alive")
    lines += [f"{k}: {v}" for k, v in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, pos = [], 0
    for size in sizes:
        piece = body[pos : pos + size]
        if piece:
            out.append(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        pos += size
    if pos < len(body):
        out.append(f"{len(body) - pos:x}\r\n".encode() + body[pos:] + b"\r\n")
    return b"".join(out) + b"0\r\n\r\n"


def page_response(path: str, *, at_us: int, gzip: bool = False) -> bytes:
    """200 with the portal's page at ``path``, or the portal's 404 page."""
    if path not in PAGES:
        return response(
            404, "Not Found", _page("Not found", "<h2>Page not found</h2>"), at_us=at_us
        )
    content_type, body = PAGES[path]
    return response(200, "OK", body, at_us=at_us, content_type=content_type, gzip=gzip)

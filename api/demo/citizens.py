"""Citizens on the portal: browsing over HTTP and HTTPS, a sign-in, a refused port, a reset."""

from __future__ import annotations

from api.demo.capture import Scene
from api.demo.http import PAGES, HttpRequest, page_response, response
from api.demo.network import (
    LINUX,
    MACOS,
    MINUTE,
    MS,
    PORTAL,
    SECOND,
    WINDOWS,
    dmz_host,
    internet_host,
)
from api.demo.tcp import TcpConnection
from api.demo.web import Citizen, Exchange, http_connection, https_connection, rejected_upload

_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)
_EDGE = _CHROME + " Edg/122.0.0.0"
_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Safari/605.1.15"
)
_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.3 Mobile/15E148 Safari/604.1"
)
_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Mobile Safari/537.36"
)

CITIZENS = [
    Citizen(internet_host(ip, os), agent, rtt * MS)
    for ip, os, agent, rtt in [
        ("203.0.113.23", LINUX, _FIREFOX, 28),
        ("203.0.113.102", WINDOWS, _EDGE, 35),
        ("203.0.113.45", MACOS, _SAFARI, 22),
        ("203.0.113.77", LINUX, _ANDROID, 65),
        ("203.0.113.150", MACOS, _IPHONE, 55),
        ("203.0.113.9", WINDOWS, _CHROME, 31),
        ("198.18.4.20", LINUX, _FIREFOX, 18),
        ("198.18.77.3", WINDOWS, _EDGE, 41),
        ("198.18.130.66", MACOS, _SAFARI, 26),
        ("198.19.8.200", LINUX, _ANDROID, 70),
        ("198.19.201.14", WINDOWS, _CHROME, 24),
        ("203.0.113.188", WINDOWS, _EDGE, 33),
    ]
]
_BY_IP = {c.host.ip: c for c in CITIZENS}
_PATHS = ["/", "/services", "/services/parking", "/news", "/login", "/robots.txt", "/favicon.ico"]
_HOST = "portal.city.example"
_RANDOM_VISITS = 30


def _get(citizen: Citizen, path: str, think_us: int = 0, *, gzip: bool = False) -> Exchange:
    request = HttpRequest("GET", path, _HOST, citizen.user_agent)
    return Exchange(request, lambda at: page_response(path, at_us=at, gzip=gzip), think_us)


def _news_chunked(citizen: Citizen, think_us: int) -> Exchange:
    content_type, body = PAGES["/news"]

    def respond(at: int) -> bytes:
        sizes = [1024, 700, 2048]  # what a templating backend flushes as it renders
        return response(200, "OK", body, at_us=at, content_type=content_type, chunk_sizes=sizes)

    return Exchange(HttpRequest("GET", "/news", _HOST, citizen.user_agent), respond, think_us)


def _login(citizen: Citizen) -> list[Exchange]:
    form = b"username=C4471902&password=Tulip%2Fgarden26&csrf=7f3a9c0e4b2d"
    post = HttpRequest(
        "POST",
        "/login",
        _HOST,
        citizen.user_agent,
        body=form,
        headers=[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Origin", "http://" + _HOST),
        ],
    )
    cookie = "portal_session=5b1e0c7a9d2f4e6b8a3c1d5e7f9a2b4c"

    def see_other(at: int) -> bytes:
        headers = [
            ("Location", "/account"),
            ("Set-Cookie", f"{cookie}; Path=/; HttpOnly; SameSite=Lax"),
        ]
        return response(303, "See Other", b"", at_us=at, headers=headers)

    account = HttpRequest(
        "GET", "/account", _HOST, citizen.user_agent, headers=[("Cookie", cookie)]
    )
    return [
        _get(citizen, "/login"),
        Exchange(post, see_other, 14 * SECOND),
        Exchange(account, lambda at: page_response("/account", at_us=at), 0),
    ]


def play(scene: Scene, start: int) -> None:
    """The citizens' half hour: scripted visits, each showing one HTTP feature, then random ones."""
    rng = scene.rng
    first = _BY_IP["203.0.113.23"]
    keep_alive = [
        _get(first, "/"),
        _get(first, "/static/site.css", 40 * MS),
        _news_chunked(first, 6 * SECOND),
        _get(first, "/services", 9 * SECOND, gzip=True),
        _get(first, "/favicon.ico", 20 * MS),
    ]
    http_connection(scene, first, start + 40 * SECOND, keep_alive)
    login = _BY_IP["203.0.113.102"]
    http_connection(scene, login, start + 4 * MINUTE + 10 * SECOND, _login(login))

    # A phone tries the wrong port, is refused, then follows the portal's redirect to HTTPS.
    phone = _BY_IP["203.0.113.77"]
    wrong_port = TcpConnection.start(
        scene, phone.host, dmz_host(PORTAL), 8080, label="benign", service=None,
        rtt_us=phone.rtt_us,
    )  # fmt: skip
    t = wrong_port.refused(start + 8 * MINUTE + 5 * SECOND) + 2 * SECOND
    http_connection(scene, phone, t, [_redirect(phone)])
    https_connection(
        scene, phone, t + 300 * MS, [_get(phone, "/"), _get(phone, "/static/site.css")]
    )

    rejected_upload(
        scene, _BY_IP["198.18.77.3"], start + 12 * MINUTE + 30 * SECOND, rng.randbytes(9000)
    )
    iphone = _BY_IP["203.0.113.150"]
    pages = [_get(iphone, "/services"), _get(iphone, "/services/parking", 8 * SECOND)]
    https_connection(scene, iphone, start + 19 * MINUTE + 20 * SECOND, pages, abort=True)

    for i in range(_RANDOM_VISITS):
        citizen = rng.choice(CITIZENS)
        at = start + rng.randrange(28 * MINUTE)
        visit = [
            _get(citizen, rng.choice(_PATHS), rng.randint(1, 12) * SECOND)
            for _ in range(rng.randint(1, 4))
        ]
        (http_connection if i % 2 else https_connection)(scene, citizen, at, visit)


def _redirect(citizen: Citizen) -> Exchange:
    def respond(at: int) -> bytes:
        location = [("Location", f"https://{_HOST}/")]
        return response(301, "Moved Permanently", b"", at_us=at, headers=location)

    return Exchange(HttpRequest("GET", "/", _HOST, citizen.user_agent), respond)

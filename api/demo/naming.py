"""Name service: other operators' resolvers asking the city's authoritative server, the admin LAN
asking it recursively, and one answer too big for UDP that is asked again over TCP."""

from __future__ import annotations

from api.demo import dns
from api.demo.capture import Scene
from api.demo.datagram import dns_question
from api.demo.network import LINUX, MINUTE, MS, RESOLVER, SECOND, Host, dmz_host, internet_host
from api.demo.tcp import TcpConnection, Turn

# Other operators' resolvers ask with rd=0; the last one still lacks EDNS (RFC 6891).
_RESOLVERS = [internet_host(ip, LINUX) for ip in ("198.18.53.1", "203.0.113.53", "198.19.53.53")]
_QUESTIONS = [
    ("portal.city.example", "A"),
    ("portal.city.example", "AAAA"),
    ("www.city.example", "A"),
    ("services.city.example", "A"),
    ("city.example", "MX"),
    ("city.example", "TXT"),
    ("mail.city.example", "A"),
]
_INTERNAL_QUESTIONS = [
    ("bastion.city.example", "A"),
    ("mail.city.example", "A"),
    ("rds01.city.example", "A"),
    ("portal.city.example", "A"),
]


def play(scene: Scene, start: int, *, admins: list[Host]) -> None:
    rng, server = scene.rng, dmz_host(RESOLVER)
    # Every question at least once, then popular ones again.
    for name, rtype in _QUESTIONS + [rng.choice(_QUESTIONS) for _ in range(33)]:
        at = start + rng.randrange(29 * MINUTE)
        dns_question(scene, rng.choice(_RESOLVERS[:2]), server, name, rtype, at, recursion=False)
    nxdomain = start + 16 * MINUTE
    dns_question(
        scene, _RESOLVERS[0], server, "permits.city.example", "A", nxdomain, recursion=False
    )
    for _ in range(10):
        name, rtype = rng.choice(_INTERNAL_QUESTIONS)
        at = start + rng.randrange(29 * MINUTE)
        dns_question(scene, rng.choice(admins), server, name, rtype, at, recursion=True)
    _truncated(scene, _RESOLVERS[2], server, start + 7 * MINUTE + 30 * SECOND)


def _truncated(scene: Scene, client: Host, server: Host, at: int) -> None:
    """Without EDNS the TXT answer exceeds 512 bytes: TC=1 over UDP, then the same over TCP."""
    name, rtype = "city.example", "TXT"
    t = dns_question(scene, client, server, name, rtype, at, edns=False, recursion=False)
    conn = TcpConnection.start(
        scene, client, server, 53, label="benign", service="dns", rtt_us=16 * MS
    )
    t = conn.open(t + 20 * MS)
    txid = scene.rng.getrandbits(16)
    question = dns.query(txid, name, rtype, edns=False, recursion=False)
    answer = dns.answer(txid, name, rtype, edns=False, recursion=False, tcp=True)
    t = conn.converse([Turn(True, _framed(question), 1 * MS), Turn(False, _framed(answer), 250)], t)
    conn.close(True, t + 2 * MS)


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message  # RFC 1035 4.2.2: a two-byte length first

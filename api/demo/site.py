"""A city site's ordinary traffic, for the labelled evaluation set: the baseline a model learns.

What runs, per hour by default: citizens' visits to the portal over HTTPS (several parallel
connections, now and then a form upload), admin workstations' DNS lookups, web browsing, NTP every
64 s and IMAP polling every 5 min (both periodic, as real clients are), SSH sessions to the
bastion, software downloads, inbound mail, the mail server's own lookups, and the Internet's
background radiation (single probes of closed ports from ever-changing sources).
Rates are per hour; everything is drawn from the capture's seeded ``random.Random``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from api.demo.rawcapture import RawCapture

PORTAL, BASTION, MAIL, RDP, RESOLVER, NTP = (
    "198.51.100.10",
    "198.51.100.22",
    "198.51.100.25",
    "198.51.100.30",
    "198.51.100.53",
    "198.51.100.123",
)
DMZ_HOSTS = (PORTAL, BASTION, MAIL, RDP, RESOLVER, NTP)
ADMINS = tuple(f"10.20.0.{i}" for i in range(11, 51))
_PUBLIC_FIRST = (
    31,
    37,
    46,
    62,
    77,
    78,
    79,
    81,
    82,
    83,
    84,
    85,
    86,
    87,
    88,
    89,
    90,
    91,
    92,
    93,
    94,
    95,
    109,
    176,
    178,
    188,
    212,
    213,
    217,
)
_WORDS = (
    "mail",
    "www",
    "api",
    "cdn",
    "static",
    "login",
    "news",
    "docs",
    "update",
    "maps",
    "images",
    "video",
    "search",
    "calendar",
    "drive",
    "portal",
    "weather",
    "status",
)
_ZONES = (
    "example.com",
    "example.net",
    "example.org",
    "city.example",
    "gov.example",
    "vendor-updates.example",
    "news.example",
    "cloud.example",
)


def public_ip(rng_value: int) -> str:
    """A public-looking address from a number (the same number, the same address)."""
    first = _PUBLIC_FIRST[rng_value % len(_PUBLIC_FIRST)]
    rest = rng_value // len(_PUBLIC_FIRST)
    return f"{first}.{rest % 256}.{(rest >> 8) % 256}.{1 + (rest >> 16) % 254}"


def dns_message(txid: int, name: str, qtype: int, answers: list[bytes] | None) -> bytes:
    """A DNS query (``answers`` None) or response with the given RDATA records (RFC 1035 4.1)."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    question = qname + struct.pack("!HH", qtype, 1)
    if answers is None:
        return struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + question
    rrs = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, 300, len(r)) + r for r in answers)
    return struct.pack("!HHHHHH", txid, 0x8180, 1, len(answers), 0, 0) + question + rrs


@dataclass(frozen=True, slots=True)
class SiteRates:
    """Events per hour."""

    visits: float = 3000.0
    admin_lookups: float = 7000.0
    admin_browsing: float = 2400.0
    ssh_sessions: float = 8.0
    downloads: float = 6.0
    inbound_mail: float = 360.0
    mail_lookups: float = 360.0
    background_probes: float = 120.0


class Site:
    def __init__(self, cap: RawCapture, start_us: int, seconds: float) -> None:
        self.cap, self.rng = cap, cap.rng
        self.start, self.end = start_us, start_us + int(seconds * 1e6)
        self.citizens = [public_ip(self.rng.getrandbits(40)) for _ in range(3000)]
        self.web = [public_ip(self.rng.getrandbits(40)) for _ in range(300)]

    def play(self, rates: SiteRates | None = None) -> None:
        r = rates or SiteRates()
        for t in self._times(r.visits):
            self.visit(t)
        for t in self._times(r.admin_lookups):
            self.lookup(self.rng.choice(ADMINS), t)
        for t in self._times(r.admin_browsing):
            self.browse(t)
        for t in self._times(r.ssh_sessions):
            self.ssh(t)
        for t in self._times(r.downloads):
            size = int(self.rng.lognormvariate(math.log(2e6), 0.5))
            self.cap.tcp(
                self.rng.choice(ADMINS),
                self.rng.choice(self.web),
                443,
                t,
                [(True, 600, 0), (False, size, 30_000)],
                label="benign",
            )
        for t in self._times(r.inbound_mail):
            size = int(self.rng.lognormvariate(math.log(20_000), 1.0))
            turns = [
                (False, 60, 0),
                (True, 40, 20_000),
                (False, 200, 500),
                (True, size, 20_000),
                (False, 40, 2_000),
            ]
            self.cap.tcp(public_ip(self.rng.getrandbits(40)), MAIL, 25, t, turns, label="benign")
        for t in self._times(r.mail_lookups):
            self.lookup(MAIL, t)
        for t in self._times(r.background_probes):
            probe = public_ip(self.rng.getrandbits(40))
            port = self.rng.choice((23, 445, 3389, 8080, 5900, 1433, 3306, 6379, 8443, 2323))
            self.cap.tcp(
                probe,
                self.rng.choice(DMZ_HOSTS),
                port,
                t,
                [],
                label="benign",
                close=self.rng.choice(("rej", "rej", "s0")),
            )
        for admin in ADMINS:
            self.periodic(admin)

    def _times(self, per_hour: float) -> list[int]:
        """Event times of a Poisson process with the given hourly rate."""
        out: list[int] = []
        t, mean = float(self.start), 3.6e9 / per_hour
        while True:
            t += self.rng.expovariate(1.0 / mean)
            if t >= self.end:
                return out
            out.append(int(t))

    def visit(self, t: int) -> None:
        citizen = self.citizens[int(len(self.citizens) * self.rng.random() ** 2)]
        rtt = self.rng.randint(15_000, 90_000)
        for _ in range(self.rng.choice((1, 2, 2, 3, 4, 6))):
            turns = []
            for _ in range(self.rng.randint(1, 3)):
                upload = self.rng.random() < 0.02
                request = int(self.rng.lognormvariate(math.log(1e5), 1.0)) if upload else 0
                turns.append((True, self.rng.randint(300, 900) + request, 300_000))
                turns.append((False, int(self.rng.lognormvariate(math.log(4000), 0.9)), 2_000))
            self.cap.tcp(
                citizen,
                PORTAL,
                443,
                t + self.rng.randrange(2_000_000),
                turns,
                label="benign",
                rtt_us=rtt,
            )

    def lookup(self, client: str, t: int) -> None:
        name = f"{self.rng.choice(_WORDS)}.{self.rng.choice(_ZONES)}"
        qtype = self.rng.choice((1, 1, 1, 28))
        txid = self.rng.getrandbits(16)
        answers = [
            self.rng.randbytes(4 if qtype == 1 else 16) for _ in range(self.rng.randint(1, 3))
        ]
        self.cap.udp(
            client,
            RESOLVER,
            53,
            t,
            [(dns_message(txid, name, qtype, None), dns_message(txid, name, qtype, answers))],
            label="benign",
            gap_us=self.rng.randint(200, 40_000),
        )

    def browse(self, t: int) -> None:
        size = int(self.rng.lognormvariate(math.log(15_000), 1.0))
        turns = [(True, self.rng.randint(400, 1500), 0), (False, size, 40_000)]
        self.cap.tcp(
            self.rng.choice(ADMINS),
            self.rng.choice(self.web),
            443,
            t,
            turns,
            label="benign",
            rtt_us=self.rng.randint(10_000, 60_000),
        )

    def ssh(self, t: int) -> None:
        turns = [(False, 41, 0), (True, 41, 1_000), (True, 1500, 500), (False, 1100, 500)]
        for _ in range(self.rng.randint(30, 120)):  # keystrokes and screens, seconds apart
            turns.append((True, 36, self.rng.randint(200_000, 15_000_000)))
            turns.append((False, self.rng.choice((36, 36, 120, 900, 4000)), 20_000))
        self.cap.tcp(self.rng.choice(ADMINS), BASTION, 22, t, turns, label="benign", rtt_us=2_000)

    def periodic(self, admin: str) -> None:
        """NTP every 64 s and IMAP polling every 5 min, from a random phase."""
        t = self.start + self.rng.randrange(64_000_000)
        while t < self.end:
            request = bytes([0x23]) + bytes(47)
            self.cap.udp(
                admin,
                NTP,
                123,
                t,
                [(request, bytes([0x24]) + bytes(47))],
                label="benign",
                gap_us=400,
            )
            t += 64_000_000 + self.rng.randint(-50_000, 50_000)
        t = self.start + self.rng.randrange(300_000_000)
        while t < self.end:
            turns = [
                (False, 120, 0),
                (True, 60, 2_000),
                (False, 300, 500),
                (True, 40, 2_000),
                (False, self.rng.choice((80, 80, 80, 2_000, 30_000)), 500),
            ]
            self.cap.tcp(admin, MAIL, 143, t, turns, label="benign", rtt_us=1_000)
            t += 300_000_000 + self.rng.randint(-2_000_000, 2_000_000)

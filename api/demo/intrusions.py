"""The five labelled attacks of the evaluation set, each played over a site's ordinary traffic.

Each function adds its flows (labelled with the attack's kind) to the capture between ``start``
and ``end`` and returns what the manifest says about it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from api.demo.rawcapture import RawCapture
from api.demo.site import ADMINS, BASTION, DMZ_HOSTS, MAIL, PORTAL, RESOLVER, dns_message

_OPEN = {PORTAL: (80, 443), BASTION: (22,), MAIL: (25, 143)}
_SCAN_PORTS = (
    *(21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 161, 389, 443, 445, 465, 587, 636, 993),
    *(995, 1433, 1521, 2049, 3306, 3389, 5432, 5900, 6379, 8000, 8080, 8443, 9200, 11211, 27017),
    *range(1000, 1100),
)


@dataclass(frozen=True, slots=True)
class Intrusion:
    kind: str
    description: str
    source: str
    mitre: str


def exfiltration(cap: RawCapture, start: int, end: int) -> Intrusion:
    """A compromised workstation uploads archives of megabytes to a server abroad over 443."""
    src, dst = ADMINS[26], "185.220.101.47"
    t = start + (end - start) // 30
    while t < end:
        size = int(cap.rng.uniform(2e6, 12e6))
        t = cap.tcp(
            src,
            dst,
            443,
            t,
            [(True, 517, 0), (False, 3000, 500), (True, size, 5_000), (False, 300, 2_000)],
            label="exfiltration",
        )
        t += cap.rng.randint(60_000_000, 240_000_000) * (end - start) // 1_800_000_000
    return Intrusion("exfiltration", f"{src} uploads 2-12 MB archives to {dst}:443", src, "T1048")


def beaconing(cap: RawCapture, start: int, end: int) -> Intrusion:
    """An implant checks in with its C2 server every 20 s with 30% jitter, over HTTPS."""
    src, dst = ADMINS[33], "45.137.21.9"
    t = start + cap.rng.randrange(20_000_000)
    while t < end:
        task = cap.rng.random() < 0.1
        turns = [
            (True, cap.rng.randint(180, 400), 0),
            (False, cap.rng.randint(2_000, 3_000) if task else cap.rng.randint(90, 300), 20_000),
        ]
        cap.tcp(src, dst, 443, t, turns, label="c2_beaconing", rtt_us=40_000)
        t += int(20_000_000 * cap.rng.uniform(0.7, 1.3))
    return Intrusion(
        "c2_beaconing", f"{src} checks in with {dst}:443 every 20 s +-30%", src, "T1071.001"
    )


def dns_tunnelling(cap: RawCapture, start: int, end: int) -> Intrusion:
    """A tunnel (iodine/dnscat-style) carries data in base32 labels of TXT queries."""
    src, zone = ADMINS[18], "t.cdn-sync.example"
    t = start + (end - start) // 15
    stop = min(end, t + (end - start) // 2)
    while t < stop:
        data = base64.b32encode(cap.rng.randbytes(cap.rng.randint(90, 110))).decode().rstrip("=")
        labels = [data[i : i + 60].lower() for i in range(0, len(data), 60)]
        name = ".".join([*labels, zone])
        txid = cap.rng.getrandbits(16)
        txt = cap.payload(cap.rng.randint(100, 220))
        answer = bytes([len(txt)]) + txt
        cap.udp(
            src,
            RESOLVER,
            53,
            t,
            [(dns_message(txid, name, 16, None), dns_message(txid, name, 16, [answer]))],
            label="dns_tunnelling",
            gap_us=cap.rng.randint(20_000, 80_000),
        )
        t += int(cap.rng.uniform(0.4, 1.6) * 1e6)
    return Intrusion(
        "dns_tunnelling", f"{src} tunnels data through TXT queries under {zone}", src, "T1071.004"
    )


def slow_scan(cap: RawCapture, start: int, end: int) -> Intrusion:
    """One probe every 8-25 s across the DMZ's hosts and common ports (nmap -T1 style)."""
    src = "193.32.162.77"
    t = start + (end - start) // 60
    while t < end:
        host, port = cap.rng.choice(DMZ_HOSTS), cap.rng.choice(_SCAN_PORTS)
        if (host, port) in {(h, p) for h, ps in _OPEN.items() for p in ps}:
            close = "open_rst"
        else:
            close = "rej" if cap.rng.random() < 0.7 else "s0"
        cap.tcp(src, host, port, t, [], label="slow_scan", close=close, rtt_us=30_000)
        t += cap.rng.randint(8_000_000, 25_000_000)
    return Intrusion("slow_scan", f"{src} probes DMZ ports one every 8-25 s", src, "T1046")


def brute_force(cap: RawCapture, start: int, end: int) -> Intrusion:
    """Password guessing against the SSH bastion: a session every 4-12 s, each rejected."""
    src = "45.155.205.233"
    t = start + (end - start) // 6
    stop = min(end, t + 2 * (end - start) // 3)
    while t < stop:
        turns = [
            (False, 41, 0),
            (True, 41, 2_000),
            (True, 1_400, 500),
            (False, 1_100, 500),
            (True, 48, 30_000),
            (False, 500, 500),
            (True, 300, 30_000),
        ]
        for _ in range(cap.rng.randint(2, 3)):
            turns += [(True, 100, 50_000), (False, 36, 1_500_000)]
        cap.tcp(src, BASTION, 22, t, turns, label="brute_force", rtt_us=35_000)
        t += cap.rng.randint(4_000_000, 12_000_000)
    return Intrusion("brute_force", f"{src} guesses SSH passwords on {BASTION}", src, "T1110.001")


ATTACKS: dict[str, Callable[[RawCapture, int, int], Intrusion]] = {
    "exfiltration": exfiltration,
    "c2_beaconing": beaconing,
    "dns_tunnelling": dns_tunnelling,
    "slow_scan": slow_scan,
    "brute_force": brute_force,
}

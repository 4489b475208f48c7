"""The demo network: who has which address, how their stacks behave, and where network time starts.

The sensor is pictured on a SPAN port of the city's DMZ switch: every frame is either between two
DMZ hosts or between a DMZ host and the DMZ gateway (.254), which routes the Internet and the admin
LAN.
That fixes the MAC addresses: a DMZ address has its own, anything else arrives from the gateway's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network

#: Network time of the first packet: 2026-03-02T08:00:00Z (a Monday morning).
START = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)
START_US = int(START.timestamp()) * 1_000_000
MS = 1_000
SECOND = 1_000_000
MINUTE = 60 * SECOND

DMZ = IPv4Network("198.51.100.0/24")
ADMIN_LAN = IPv4Network("10.20.0.0/24")

GATEWAY = "198.51.100.254"
PORTAL = "198.51.100.10"
BASTION = "198.51.100.22"
MAIL = "198.51.100.25"
RDP_SERVER = "198.51.100.30"
RESOLVER = "198.51.100.53"

#: What the manifest says each well-known address is.
ROLES: dict[str, str] = {
    PORTAL: "e-government portal www (HTTP 80, HTTPS 443; sshd and MTA also listen)",
    BASTION: "admin SSH bastion (22)",
    MAIL: "mail server (SMTP 25, IMAP 143)",
    RDP_SERVER: "remote desktop gateway (RDP 3389)",
    RESOLVER: "DNS: authoritative for city.example, recursive for the admin LAN",
    GATEWAY: "DMZ gateway (routes the Internet and the admin LAN)",
}


@dataclass(frozen=True)
class OsProfile:
    """What a host's IP stack puts on the wire that differs between systems."""

    name: str
    initial_ttl: int
    ephemeral_ports: tuple[int, int]
    dont_fragment: bool = True


# Ephemeral ports: Linux's ip_local_port_range default; IANA's range (RFC 6335) for the rest.
LINUX = OsProfile("linux", 64, (32768, 60999))
WINDOWS = OsProfile("windows", 128, (49152, 65535))
MACOS = OsProfile("macos", 64, (49152, 65535))
# Raw-socket scanners (nmap, masscan) build their own IP header: no DF, and nmap picks the TTL.
SCANNER = OsProfile("scanner", 64, (32768, 60999), dont_fragment=False)


@dataclass(frozen=True)
class Host:
    ip: str
    os: OsProfile
    hops: int = 0

    @property
    def ttl(self) -> int:
        """The TTL as seen at the DMZ switch: each router on the way took one off."""
        return self.os.initial_ttl - self.hops

    @property
    def mac(self) -> str:
        return mac_of(self.ip)


def mac_of(ip: str) -> str:
    """The (locally administered) MAC address of frames to or from ``ip`` on the DMZ segment."""
    addr = IPv4Address(ip)
    if addr not in DMZ:
        addr = IPv4Address(GATEWAY)
    octets = addr.packed
    return "02:00:" + ":".join(f"{b:02x}" for b in octets)


def dmz_host(ip: str) -> Host:
    """A DMZ address: the RDP gateway runs Windows, everything else Linux."""
    return Host(ip, WINDOWS if ip == RDP_SERVER else LINUX)


def admin_host(ip: str, os: OsProfile = LINUX) -> Host:
    """A workstation on the admin LAN, one routed hop (the gateway) away."""
    return Host(ip, os, hops=1)


def internet_host(ip: str, os: OsProfile) -> Host:
    """A host on the Internet, 8 to 19 hops away (a stable function of the address)."""
    hops = 8 + hashlib.sha256(ip.encode()).digest()[0] % 12
    return Host(ip, os, hops=hops)

"""Two network namespaces joined by a veth pair, for live-capture tests and the bench.

``server`` (10.231.N.1) holds the sensor, the central service (on its own loopback) and the
servers; ``client`` (10.231.N.2) the clients. Nothing leaves the pair: no route to anywhere else.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TRAFFIC = Path(__file__).with_name("traffic.py")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and a veth pair)"
    if shutil.which("ip") is None:
        return "needs iproute2's `ip`"
    probe = f"csprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


@dataclass(frozen=True)
class Lab:
    server_ns: str
    client_ns: str
    server_if: str
    client_if: str
    server_ip: str
    client_ip: str

    def cmd(self, ns: str, *args: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *args]

    def traffic(self, ns: str, *args: str) -> list[str]:
        return self.cmd(ns, sys.executable, str(TRAFFIC), *args)

    def run(self, ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cmd(ns, *args), capture_output=True, text=True, timeout=timeout, check=True
        )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def veth_lab() -> Iterator[Lab]:
    tag = uuid.uuid4().hex[:6]
    net = int(tag, 16) % 250 + 1
    lab = Lab(f"cs-{tag}-srv", f"cs-{tag}-cli", f"cs{tag}s", f"cs{tag}c",
              f"10.231.{net}.1", f"10.231.{net}.2")  # fmt: skip
    try:
        _ip("netns", "add", lab.server_ns)
        _ip("netns", "add", lab.client_ns)
        _ip("link", "add", lab.server_if, "type", "veth", "peer", "name", lab.client_if)
        _ip("link", "set", lab.server_if, "netns", lab.server_ns)
        _ip("link", "set", lab.client_if, "netns", lab.client_ns)
        for ns, dev, addr in ((lab.server_ns, lab.server_if, lab.server_ip),
                              (lab.client_ns, lab.client_if, lab.client_ip)):  # fmt: skip
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            # No offloads: the sensor sees packets as they are on the wire (not 64 KiB GSO).
            offloads = ["tso", "off", "gso", "off", "gro", "off"]
            subprocess.run(["ip", "netns", "exec", ns, "ethtool", "-K", dev, *offloads],
                           capture_output=True, check=False)  # fmt: skip
        yield lab
    finally:
        for ns in (lab.server_ns, lab.client_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)

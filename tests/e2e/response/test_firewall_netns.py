"""``firewall.block_ip`` against real nftables in a network namespace this test creates: a
blocked address really cannot connect, another still can, the never-block list holds, and
``firewall.unblock_ip`` lets the address back in.

Needs root, ``ip netns`` and ``nft`` (``.ci/setup`` installs nftables where it can); otherwise
skipped with the reason.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from cityshield.clock import FixedClock
from cityshield.errors import ActionError
from response.actions.base import ActionContext
from response.actions.firewall import (
    BlockIpAction,
    BlockIpParams,
    Nftables,
    UnblockIpAction,
    UnblockIpParams,
)
from response.settings import FirewallSettings

pytestmark = pytest.mark.e2e

PORT = 8080


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    if shutil.which("ip") is None:
        return "needs iproute2 (ip netns)"
    if shutil.which("nft") is None:
        return "needs nft (Debian package nftables; .ci/setup installs it when root)"
    return None


@dataclass
class Namespace:
    """A namespace with a TCP server on ``addr``; ``host`` and ``other`` are this side's
    addresses. Each test gets a subnet of its own (tests may run in parallel)."""

    name: str
    server: subprocess.Popen[bytes]
    net: str  # "10.231.N"

    @property
    def host(self) -> str:
        return f"{self.net}.1"

    @property
    def addr(self) -> str:
        return f"{self.net}.2"

    @property
    def other(self) -> str:
        return f"{self.net}.5"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    name = f"cs-fw-{secrets.token_hex(3)}"
    veth = f"csv{secrets.token_hex(3)}"
    net = f"10.231.{secrets.randbelow(250) + 1}"
    host, addr, other = f"{net}.1", f"{net}.2", f"{net}.5"
    try:
        sh("ip", "netns", "add", name)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create a network namespace here: {exc.stderr.decode().strip()}")
    server = None
    try:
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "addr", "add", f"{host}/24", "dev", veth)
        sh("ip", "addr", "add", f"{other}/24", "dev", veth)
        sh("ip", "link", "set", veth, "up")
        sh("ip", "netns", "exec", name, "ip", "addr", "add", f"{addr}/24", "dev", "eth0")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-c", _SERVER, addr, str(PORT)],
            stdout=subprocess.PIPE,
        )
        assert server.stdout is not None and server.stdout.readline().strip() == b"listening"
        yield Namespace(name, server, net)
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
            if server.stdout is not None:
                server.stdout.close()
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False, timeout=20)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False, timeout=20)


_SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"hello\\n")
    c.close()
"""


def connects(ns: Namespace, source: str) -> bool:
    """Whether a TCP connection from ``source`` to the namespace's server gets its greeting.
    Under a second: a dropped SYN is sent again after one, which could outlive a short block."""
    try:
        with socket.create_connection(
            (ns.addr, PORT), timeout=0.8, source_address=(source, 0)
        ) as s:
            return s.recv(16) == b"hello\n"
    except OSError:
        return False


def ctx() -> ActionContext:
    return ActionContext(
        run_id="run_fw", step_key="block", playbook_id="t", started_by="test",
        clock=FixedClock(datetime(2026, 3, 1, tzinfo=UTC)), timeout=10,
    )  # fmt: skip


def test_a_blocked_address_cannot_connect(netns: Namespace) -> None:
    settings = FirewallSettings(
        netns=netns.name, never_block=[f"{netns.addr}/32", f"{netns.net}.100/30"]
    )
    nft = Nftables(settings)
    block, unblock = BlockIpAction(nft), UnblockIpAction(nft)
    assert connects(netns, netns.host) and connects(netns, netns.other)

    result = block.run(BlockIpParams(ip=netns.host, expires="10m"), ctx())
    assert result["set"] == "inet cityshield blocked4" and result["expires_in"] == 600
    assert not connects(netns, netns.host)
    assert connects(netns, netns.other)
    listed = nft.run(["list", "set", "inet", "cityshield", "blocked4"], 10)
    assert netns.host in listed and "expires" in listed

    # Blocking again is harmless (idempotent) and the table is not duplicated.
    block.run(BlockIpParams(ip=netns.host, expires="10m"), ctx())
    assert (
        nft.run(["list", "table", "inet", "cityshield"], 10).count("ip saddr @blocked4 drop") == 2
    )

    with pytest.raises(ActionError, match="never-block list"):
        block.run(BlockIpParams(ip=f"{netns.net}.101"), ctx())
    assert f"{netns.net}.101" not in nft.run(["list", "set", "inet", "cityshield", "blocked4"], 10)

    assert unblock.run(UnblockIpParams(ip=netns.host), ctx()) == {"ip": netns.host, "removed": True}
    assert connects(netns, netns.host)
    assert unblock.run(UnblockIpParams(ip=netns.host), ctx()) == {
        "ip": netns.host,
        "removed": False,
    }


def test_the_block_expires(netns: Namespace) -> None:
    nft = Nftables(FirewallSettings(netns=netns.name))
    BlockIpAction(nft).run(BlockIpParams(ip=netns.host, expires=3), ctx())
    assert not connects(netns, netns.host)
    # nftables removes the element itself once its timeout passes (no process of ours involved).
    for _ in range(60):  # at most 15 s
        if netns.host not in nft.run(["list", "set", "inet", "cityshield", "blocked4"], 10):
            break
        time.sleep(0.25)
    assert connects(netns, netns.host)

"""How each kind of stack opens a TCP connection: windows, and SYN options in the order sent.

The orders follow what p0f's signatures (``p0f.fp``) record for these systems, so a passive
fingerprinter sees Linux, Windows, macOS and a SYN scanner where we meant them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from api.demo.network import Host


@dataclass(frozen=True)
class TcpProfile:
    name: str
    syn_window: int
    synack_window: int
    #: The window field after the handshake (already scaled down by ``wscale``).
    window: int
    wscale: int | None
    timestamps: bool
    sack: bool


LINUX_TCP = TcpProfile("linux", 64240, 65160, 502, 7, timestamps=True, sack=True)
# Windows has had RFC 7323 timestamps off by default since Windows 7.
WINDOWS_TCP = TcpProfile("windows", 64240, 65535, 1026, 8, timestamps=False, sack=True)
MACOS_TCP = TcpProfile("macos", 65535, 65535, 2058, 6, timestamps=True, sack=True)
# nmap -sS: window 1024 and a lone MSS option; masscan: the same window and no options at all.
NMAP_TCP = TcpProfile("nmap", 1024, 1024, 1024, None, timestamps=False, sack=False)
MASSCAN_TCP = TcpProfile("masscan", 1024, 1024, 1024, None, timestamps=False, sack=False)

_BY_OS = {"linux": LINUX_TCP, "windows": WINDOWS_TCP, "macos": MACOS_TCP, "scanner": NMAP_TCP}

Option = tuple[str, Any]
_NOP: Option = ("NOP", None)


def profile_of(host: Host) -> TcpProfile:
    return _BY_OS[host.os.name]


def syn_options(
    profile: TcpProfile, timestamp: tuple[int, int], *, ts: bool, sack: bool, wscale: bool
) -> list[Option]:
    """SYN or SYN-ACK options; ``ts``, ``sack`` and ``wscale`` say what this segment may offer."""
    if profile.name == "masscan":
        return []
    mss: Option = ("MSS", 1460)
    scale: list[Option] = [("WScale", profile.wscale)] if wscale else []
    stamp: list[Option] = [("Timestamp", timestamp)] if ts else []
    sack_ok: list[Option] = [("SAckOK", b"")] if sack else []
    if profile.name == "nmap":
        return [mss]
    if profile.name == "windows":
        return [mss, *([_NOP, *scale] if scale else []), *([_NOP, _NOP, *sack_ok] if sack else [])]
    if profile.name == "macos":
        tail: list[Option] = [("EOL", None)]
        return [mss, *([_NOP, *scale] if scale else []), _NOP, _NOP, *stamp, *sack_ok, *tail]
    # Linux: MSS, SACK-permitted, timestamps, NOP, window scale; NOPs keep alignment without them.
    if ts:
        head = [mss, *sack_ok, *stamp] if sack else [mss, _NOP, _NOP, *stamp]
    else:
        head = [mss, _NOP, _NOP, *sack_ok] if sack else [mss]
    return [*head, *([_NOP, *scale] if scale else [])]

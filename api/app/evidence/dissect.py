"""tshark's full dissection of a capture, as an analyst sees it in Wireshark's packet details.

tshark itself (Wireshark's dissectors, thousands of protocols) rather than pyshark: pyshark only
drives the same tshark through XML and adds an asyncio event loop; the text of ``tshark -V`` is
what analysts read, and ``-T json`` is the machine-readable form. Bounded: at most
``max_packets`` packets, ``max_bytes`` of output, ``timeout`` seconds.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["text", "json"]


class DissectError(Exception):
    """tshark is missing, failed or took too long (the message says which)."""


@dataclass(frozen=True, slots=True)
class Dissection:
    output: str
    truncated: bool


def tshark_path() -> str | None:
    return shutil.which("tshark")


def dissect(
    capture: Path,
    fmt: Format = "text",
    *,
    max_packets: int = 1000,
    max_bytes: int = 16 * 1024 * 1024,
    timeout: float = 60.0,
    display_filter: str | None = None,
) -> Dissection:
    tshark = tshark_path()
    if tshark is None:
        raise DissectError("tshark is not installed (Debian: apt-get install tshark)")
    args = [tshark, "-n", "-r", str(capture), "-c", str(max_packets)]
    args += ["-V"] if fmt == "text" else ["-T", "json"]
    if display_filter:
        args += ["-Y", display_filter]
    try:
        proc = subprocess.run(
            args, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
            # tshark as root warns and reads Lua plugins; neither helps a read of one file.
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LC_ALL": "C.UTF-8"},
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise DissectError(f"tshark took longer than {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        message = " / ".join(lines[:3])[:500] or f"exit status {proc.returncode}"
        raise DissectError(f"tshark failed: {message}")
    out = proc.stdout
    truncated = len(out) > max_bytes
    return Dissection(out[:max_bytes].decode("utf-8", "replace"), truncated)

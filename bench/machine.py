"""Where and with what the benchmark ran: CPU, memory, OS, Python and every peer's version."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.capture import ROOT
from bench.worker import PYSHARK_PATH_VAR


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}\s*[:=]\s*\"?(.*?)\"?\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


def _package(name: str, extra_path: str | None = None) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    if extra_path:
        for dist in metadata.distributions(path=[extra_path]):
            if dist.metadata["Name"].lower() == name:
                return f"{dist.version} (from {extra_path})"
    return "not installed"


def _first_line(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return "not installed"
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def _git() -> str:
    if not shutil.which("git"):
        return "?"
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", "sensors", "api"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.strip()
    return f"{head} + uncommitted changes in sensors/ or api/" if dirty else head


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def describe() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    meminfo = _read("/proc/meminfo")
    mem_kib = _field(meminfo, "MemTotal")
    mem = f"{int(mem_kib.split()[0]) / 1024 / 1024:.1f} GiB" if mem_kib else "?"
    os_name = _field(_read("/etc/os-release"), "PRETTY_NAME") or platform.system()
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _field(cpuinfo, "model name") or platform.processor() or "?",
        "cpu_mhz": _field(cpuinfo, "cpu MHz") or "?",
        "cores": f"{os.cpu_count()} logical ({affinity} usable by this process)",
        "ram": mem,
        "os": f"{os_name}, kernel {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "numpy": _package("numpy"),
        "cityshield": f"{_package('cityshield')} (git {_git()})",
        "dpkt": _package("dpkt"),
        "nfstream": _package("nfstream"),
        "scapy": _package("scapy"),
        "pyshark": _package("pyshark", os.environ.get(PYSHARK_PATH_VAR)),
        "tshark": _first_line(["tshark", "--version"]),
        "capinfos": _first_line(["capinfos", "--version"]),
        "load_average": load_average(),
    }

"""What is measured: CityShield (engine, full ``analyze``, reader alone) and the peers a user could
pick instead (dpkt, tshark, nfstream, scapy, pyshark), each as a ``Peer`` that builds a command
and reads its result.

Every rate uses the tool's own work time, without interpreter or program start-up: the workers
time their loop (``bench.worker``), ``analyze`` reports ``elapsed_seconds``, and tshark's start-up
(``-c 1`` on the same capture, best of the same number of runs) is subtracted from its wall time.
The process wall time, start-up included, is kept next to it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.capture import WORK, Capture
from bench.measure import ProcessRun, Runner
from bench.worker import PYSHARK_PATH_VAR

PYTHON = sys.executable
TSHARK_FIELDS = (
    "frame.number", "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
    "udp.dstport", "frame.len",
)  # fmt: skip


@dataclass(slots=True)
class Sample:
    """One run of one tool, reduced to the numbers the report needs."""

    packets: int  # packets the rate is computed over
    bytes: int  # captured bytes over the same packets
    seconds: float  # work time (the rate's basis)
    cpu_seconds: float
    process_seconds: float
    peak_rss_mib: float
    counted: int | None = None  # the tool's own packet count, when it reports one
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Measurement:
    key: str
    label: str
    status: str = "ok"  # "ok", "not available: ...", "failed: ..."
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.samples)

    @property
    def best(self) -> Sample:
        return min(self.samples, key=lambda s: s.seconds / max(s.packets, 1))

    @property
    def pps(self) -> float:
        b = self.best
        return b.packets / b.seconds if b.seconds > 0 else 0.0

    @property
    def mbit(self) -> float:
        b = self.best
        return b.bytes * 8 / 1e6 / b.seconds if b.seconds > 0 else 0.0

    @property
    def peak_rss_mib(self) -> float:
        return max(s.peak_rss_mib for s in self.samples)


class Unavailable(Exception):
    """The tool is not installed or the command does not exist (yet)."""


@dataclass(slots=True)
class Peer:
    key: str
    label: str
    #: Runs the tool once; raises ``Unavailable`` or ``RuntimeError``.
    measure_once: Callable[[Runner, Capture], Sample]
    available: Callable[[], str | None]  # None when available, else the reason
    note: str = ""
    slow: bool = False  # repeated ``--slow-repeat`` times instead of ``--repeat``


def _failed(run: ProcessRun, what: str) -> RuntimeError:
    tail = " | ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
    return RuntimeError(f"{what} exited {run.returncode}: {tail[:300]}")


def worker_sample(runner: Runner, tool: str, capture: Path, limit: int = 0) -> Sample:
    """Run ``bench.worker TOOL`` and turn its JSON line into a ``Sample``."""
    argv = [PYTHON, "-m", "bench.worker", tool, str(capture)]
    if limit:
        argv += ["--limit", str(limit)]
    run = runner.run(argv, timeout=3600)
    result = run.last_json()
    if run.returncode != 0 or result is None:
        raise _failed(run, f"bench.worker {tool}")
    counted = result.get("packets")
    return Sample(
        packets=counted if counted is not None else -1,
        bytes=result.get("bytes") or -1,
        seconds=result["seconds"],
        cpu_seconds=run.cpu_seconds,
        process_seconds=run.wall_seconds,
        peak_rss_mib=run.peak_rss_mib,
        counted=counted,
        extra=result,
    )


def _worker_peer(tool: str, *, whole: bool = True) -> Callable[[Runner, Capture], Sample]:
    def measure(runner: Runner, capture: Capture) -> Sample:
        sample = worker_sample(runner, tool, capture.path)
        if whole:  # the rate is over every packet of the capture, whatever the tool counts
            sample.packets, sample.bytes = capture.packets, capture.captured_bytes
        elif sample.packets == capture.packets:  # the engine counts wire bytes; rates use captured
            sample.bytes = capture.captured_bytes
        return sample

    return measure


def _module(name: str) -> Callable[[], str | None]:
    def available() -> str | None:
        return None if importlib.util.find_spec(name) else f"python package {name} not installed"

    return available


def _pyshark_available() -> str | None:
    extra = os.environ.get(PYSHARK_PATH_VAR)
    if importlib.util.find_spec("pyshark") or (extra and (Path(extra) / "pyshark").is_dir()):
        return None
    return f"pyshark not installed (see bench/README.md: {PYSHARK_PATH_VAR})"


def _always() -> str | None:
    return None


# -- cityshield analyze --------------------------------------------------------------------------
def cityshield_command() -> str | None:
    here = Path(PYTHON).parent / "cityshield"
    return str(here) if here.is_file() else shutil.which("cityshield")


def _analyze_available() -> str | None:
    exe = cityshield_command()
    if exe is None:
        return "no cityshield command installed"
    probe = Runner().run([exe, "analyze", "--help"], timeout=120)
    if probe.returncode != 0 or "--json" not in probe.stdout:
        return "`cityshield analyze ... --json` is not available yet"
    return None


def _analyze(runner: Runner, capture: Capture) -> Sample:
    exe = cityshield_command()
    if exe is None:
        raise Unavailable("no cityshield command installed")
    store = WORK / "analyze-store.db"
    _remove_store(store)
    try:
        run = runner.run(
            [exe, "analyze", str(capture.path), "--store", str(store), "--json"], timeout=3600
        )
    finally:
        _remove_store(store)
    summary = run.last_json()
    if summary is None or "packets" not in summary:
        raise _failed(run, "cityshield analyze")
    elapsed = summary.get("elapsed_seconds")
    return Sample(
        packets=capture.packets,
        bytes=capture.captured_bytes,
        seconds=float(elapsed) if elapsed else run.wall_seconds,
        cpu_seconds=run.cpu_seconds,
        process_seconds=run.wall_seconds,
        peak_rss_mib=run.peak_rss_mib,
        counted=int(summary["packets"]),
        extra={k: summary.get(k) for k in ("packets", "bytes", "flows", "alerts")}
        | {"returncode": run.returncode},
    )


def _remove_store(store: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)


# -- tshark --------------------------------------------------------------------------------------
def _tshark_available() -> str | None:
    return None if shutil.which("tshark") else "tshark not installed"


def tshark_argv(capture: Path, limit: int) -> list[str]:
    argv = ["tshark", "-r", str(capture), "-T", "fields"]
    for name in TSHARK_FIELDS:
        argv += ["-e", name]
    return [*argv, "-c", str(limit)] if limit else argv


def _tshark(limit: int) -> Callable[[Runner, Capture], Sample]:
    def measure(runner: Runner, capture: Capture) -> Sample:
        packets = min(limit, capture.packets) if limit else capture.packets
        startup = runner.run(tshark_argv(capture.path, 1), timeout=600, discard_stdout=True)
        run = runner.run(tshark_argv(capture.path, packets), timeout=7200, discard_stdout=True)
        if run.returncode != 0:
            raise _failed(run, "tshark")
        return Sample(
            packets=packets,
            bytes=capture.prefix_bytes(packets),
            seconds=max(run.wall_seconds - startup.wall_seconds, 1e-6),
            cpu_seconds=run.cpu_seconds,
            process_seconds=run.wall_seconds,
            peak_rss_mib=run.peak_rss_mib,
            extra={"startup_seconds": startup.wall_seconds},
        )

    return measure


# -- scapy ---------------------------------------------------------------------------------------
def _scapy(limit: int) -> Callable[[Runner, Capture], Sample]:
    def measure(runner: Runner, capture: Capture) -> Sample:
        sample = worker_sample(runner, "scapy", capture.path, limit)
        sample.bytes = capture.prefix_bytes(sample.packets)
        return sample

    return measure


def _pyshark(limit: int) -> Callable[[Runner, Capture], Sample]:
    def measure(runner: Runner, capture: Capture) -> Sample:
        sample = worker_sample(runner, "pyshark", capture.path, limit)
        sample.bytes = capture.prefix_bytes(sample.packets)
        return sample

    return measure


def peers(
    *, tshark_limit: int, scapy_limit: int, pyshark_limit: int, with_analyze: bool = True
) -> list[Peer]:
    """Everything measured on the throughput capture, CityShield's decode+flow first."""
    tshark_note = (
        f"first {tshark_limit:,} packets only (`-c`), rate of that prefix, which need not "
        "represent the whole capture; start-up (`-c 1`) subtracted"
        if tshark_limit
        else "whole capture; start-up (the same command with `-c 1`) subtracted"
    )
    out = [
        Peer("engine", "CityShield decode+flow", _worker_peer("engine", whole=False), _always,
             "`SensorEngine.read` over the capture, then `finish` (decode + flow tracking, "
             "in-process)"),
        Peer("analyze", "CityShield analyze", _analyze, _analyze_available,
             "`cityshield analyze CAPTURE --store PATH --json`, the full pipeline (decode, flows, "
             "detectors, SQLite store); rate from its `elapsed_seconds`, fresh store each run"),
        Peer("read", "CityShield reader only", _worker_peer("read"), _always,
             "our pcap reader alone (record walk into batches, no decode): the I/O ceiling"),
        Peer("dpkt", "dpkt decode+flow", _worker_peer("dpkt"), _module("dpkt"),
             "`dpkt.pcap.Reader` + Ethernet/IP/IP6/TCP/UDP decode + a dict keyed by canonical "
             "5-tuple counting packets and bytes"),
        Peer("nfstream", "nfstream flow export", _worker_peer("nfstream"), _module("nfstream"),
             "`NFStreamer(source, n_dissections=0, statistical_analysis=False, n_meters=1)` "
             "iterated to the end; its meter process and the consumer share the one core"),
        Peer("tshark", "tshark fields", _tshark(tshark_limit), _tshark_available,
             f"`tshark -r CAPTURE -T fields -e frame.number -e ip.src ... -e frame.len` to "
             f"/dev/null; {tshark_note}", slow=True),
        Peer("scapy", "scapy PcapReader", _scapy(scapy_limit), _module("scapy"),
             f"`scapy.utils.PcapReader` read + dissect loop, no flow table; first "
             f"{scapy_limit:,} packets, rate of that prefix", slow=True),
        Peer("pyshark", "pyshark FileCapture", _pyshark(pyshark_limit), _pyshark_available,
             f"`pyshark.FileCapture` loop (tshark child process, PDML); first "
             f"{pyshark_limit:,} packets, rate of that prefix", slow=True),
    ]  # fmt: skip
    return [p for p in out if with_analyze or p.key != "analyze"]

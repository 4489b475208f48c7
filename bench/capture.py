"""The captures the benchmark reads: the corpus throughput pcap, or a synthetic stand-in.

The corpus (``../shared/corpus`` from the repository root) lists captures that concatenate into
one benchmark pcap (``pcaps/throughput/concat-list.txt``, built with ``mergecap -a -F pcap`` as its
README says). Users' clones do not have the corpus: then a deterministic synthetic mixed capture
is generated instead (``bench.synth``). Both are cached in ``bench/work/`` (git-ignored).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import synth

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
CORPUS_PCAPS = ROOT.parent / "shared" / "corpus" / "pcaps"
CONCAT_LIST = CORPUS_PCAPS / "throughput" / "concat-list.txt"
MIXED_PACKETS = 1_000_000
MIXED_PACKETS_QUICK = 200_000


@dataclass(frozen=True)
class Capture:
    path: Path
    origin: str
    packets: int  # counted by walking the record headers ourselves
    captured_bytes: int
    wire_bytes: int
    sha256: str
    capinfos_packets: int | None
    caplen: np.ndarray  # per-packet captured length, for the bytes of a prefix

    def prefix_bytes(self, packets: int) -> int:
        return int(self.caplen[: max(0, packets)].sum())

    @property
    def mean_frame(self) -> float:
        return self.captured_bytes / self.packets if self.packets else 0.0


def throughput_capture(*, quick: bool = False, log: bool = True) -> Capture:
    """The corpus benchmark pcap when the corpus is here, else the synthetic mixed capture."""
    WORK.mkdir(parents=True, exist_ok=True)
    if CONCAT_LIST.is_file() and shutil.which("mergecap"):
        path = WORK / "throughput.pcap"
        if not path.is_file():
            if log:
                print(f"building {path.relative_to(ROOT)} from {CONCAT_LIST} with mergecap ...")
            _mergecap(path)
        return describe(path, f"corpus throughput pcap (mergecap -a -F pcap of {CONCAT_LIST.name})")
    packets = MIXED_PACKETS_QUICK if quick else MIXED_PACKETS
    path = WORK / f"mixed-v{synth.VERSION}-{packets}.pcap"
    if not path.is_file():
        if log:
            print(f"corpus absent: generating {path.relative_to(ROOT)} ({packets:,} packets)")
        synth.write_mixed(path, packets)
    return describe(path, "synthetic mixed capture (bench/synth.py write_mixed, seed 1)")


def uniform_capture(packets: int, flows: int, frame_bytes: int) -> Path:
    """A cached ``synth.write_uniform`` capture for the scaling sweeps."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"uniform-v{synth.VERSION}-n{packets}-f{flows}-s{frame_bytes}.pcap"
    if not path.is_file():
        synth.write_uniform(path, packets, flows, frame_bytes)
    return path


def _mergecap(out: Path) -> None:
    names = [n for n in CONCAT_LIST.read_text().split() if n]
    tmp = out.with_suffix(".part")
    subprocess.run(
        ["mergecap", "-a", "-F", "pcap", "-w", str(tmp), *names],
        cwd=CORPUS_PCAPS,
        check=True,
        capture_output=True,
    )
    tmp.replace(out)


def describe(path: Path, origin: str) -> Capture:
    caplen, wirelen = _record_lengths(path)
    return Capture(
        path=path,
        origin=origin,
        packets=len(caplen),
        captured_bytes=int(caplen.sum()),
        wire_bytes=int(wirelen.sum()),
        sha256=_sha256(path),
        capinfos_packets=capinfos_count(path),
        caplen=caplen,
    )


def capinfos_count(path: Path) -> int | None:
    """Wireshark's packet count (``capinfos -c -M``), or None when capinfos is not installed."""
    if not shutil.which("capinfos"):
        return None
    done = subprocess.run(
        ["capinfos", "-c", "-M", str(path)], capture_output=True, text=True, check=False
    )
    match = re.search(r"Number of packets:\s*(\d+)", done.stdout)
    return int(match.group(1)) if match else None


def _record_lengths(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Captured and original lengths of every record of a classic pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: the benchmark reads classic pcap files only")
    lengths = struct.Struct(endian + "II").unpack_from
    pos, end = 24, len(data)
    caps: list[int] = []
    wires: list[int] = []
    while pos + 16 <= end:
        cap, wire = lengths(data, pos + 8)
        if pos + 16 + cap > end:
            break  # a truncated last record: not a packet
        caps.append(cap)
        wires.append(wire)
        pos += 16 + cap
    return np.asarray(caps, dtype=np.int64), np.asarray(wires, dtype=np.int64)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()

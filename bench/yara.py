"""YARA engines side by side: yara-x, yara-python and the ``yara`` command-line tool.

``.venv/bin/python -m bench.yara [--out bench/YARA_RESULTS.md] [--quick] [--rules DIR]``

On one core (the process pins itself to CPU 0, the CLI runs under ``taskset -c 0``), with our
rule pack (``rules/yara``) unless ``--rules`` names other folders, it measures:

* scans per second of 1,500-byte buffers (per-call overhead: what packet-sized scanning costs) and
  of 64 KiB buffers (the reassembled chunks the sensor hands to the detector), through the engine
  alone and through ``ContentScanner`` (the detector's path: budgets, conversion, validators);
* MB/s on a large buffer of HTTP-like text and binary, and the ``yara`` CLI's MB/s on the same data
  in the same run (its start-up and rule compilation measured on an empty file and subtracted);
* the whole pipeline on the throughput capture (decode, flows, reassembly, parsers), without and
  with the YARA detector and our rule pack: Mbit/s and peak memory of each.

The data is deterministic (a seeded generator), so runs are comparable.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.capture import ROOT

PACK = ROOT / "rules" / "yara"
THROUGHPUT = ROOT / "bench" / "work" / "throughput.pcap"


def pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ[var] = "1"


def corpus_text(size: int, seed: int = 7) -> bytes:
    """HTTP requests, JSON, HTML and binary blobs, as a portal's reassembled streams look."""
    rnd = random.Random(seed)
    parts: list[bytes] = []
    total = 0
    while total < size:
        k = rnd.random()
        if k < 0.25:
            part = (
                b"GET /portal/services/item?id=%d&lang=zh-CN HTTP/1.1\r\nHost: www.example.gov.cn"
                b"\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept: */*\r\n"
                b"Cookie: sid=%x\r\n\r\n" % (rnd.randint(1, 10**6), rnd.getrandbits(64))
            )
        elif k < 0.5:
            part = (
                b'{"name":"item %d","price":%d.%02d,"phone":"1%010d","ts":%d,"desc":"The quick '
                b'brown fox jumps over the lazy dog"}\n'
                % (rnd.randint(1, 9999), rnd.randint(1, 999), rnd.randint(0, 99),
                   rnd.randint(0, 10**10 - 1), rnd.randint(10**12, 2 * 10**12))
            )  # fmt: skip
        elif k < 0.75:
            row = b'<div class="row"><a href="../news/%d.html">News</a><img src="/%x.png"></div>\n'
            part = row % (rnd.randint(1, 999), rnd.getrandbits(32))
        else:
            part = rnd.randbytes(rnd.randint(200, 3000))
        parts.append(part)
        total += len(part)
    return b"".join(parts)[:size]


def best_rate(fn: Callable[[], int], seconds: float, repeat: int = 3) -> float:
    """The best of ``repeat`` runs of ``fn`` looped for ``seconds``: units per second."""
    best = 0.0
    for _ in range(repeat):
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            done += fn()
        best = max(best, done / elapsed)
    return best


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def capture_chunks(capture: Path, limit: int) -> list[bytes]:
    """The reassembled chunks the YARA detector would scan in ``capture`` (TLS and SSH skipped)."""
    from sensors.engine import SensorEngine

    sensor, chunks, size = SensorEngine(), [], 0
    for result in [*sensor.read(capture), sensor.finish()]:
        for c in result.content.stream_chunks:
            if c.protocol not in ("tls", "ssh") and c.data:
                chunks.append(c.data)
                size += len(c.data)
        if size > limit:
            break
    return chunks


def engines_rows(
    dirs: list[Path], quick: bool, stream: list[bytes]
) -> tuple[list[list[str]], dict[str, float]]:
    from api.yara_rules import load_rule_pack
    from detectors.yara.config import YaraConfig
    from detectors.yara.engine import EXTERNALS, ScanLimits, engine_named
    from detectors.yara.scanner import ContentScanner

    seconds = 0.5 if quick else 2.0
    small = [corpus_text(1500, seed) for seed in range(64)]
    chunks = [corpus_text(64 << 10, 100 + seed) for seed in range(8)]
    large = corpus_text((16 if quick else 64) << 20, 999)
    rows, mbs = [], {}
    for name in ("yara-x", "yara-python"):
        started = time.perf_counter()
        loaded = load_rule_pack(dirs, engine_named(name))
        compile_s = time.perf_counter() - started
        assert loaded.rules is not None, [str(p) for p in loaded.problems]
        raw = loaded.rules.scanner(ScanLimits(60, 1000, 64))
        scanner = ContentScanner(loaded.rules, YaraConfig(engine=name, timeout_seconds=60))

        def loop(buffers: list[bytes], scan: Callable[[bytes], object]) -> Callable[[], int]:
            def run() -> int:
                for b in buffers:
                    scan(b)
                return len(buffers)

            return run

        small_raw = best_rate(loop(small, lambda b, raw=raw: raw.scan(b, EXTERNALS)), seconds)
        small_det = best_rate(loop(small, scanner.scan), seconds)
        chunk_det = best_rate(loop(chunks, scanner.scan), seconds)
        mb = 0.0
        for _ in range(3):
            started = time.perf_counter()
            raw.scan(large, EXTERNALS)
            mb = max(mb, len(large) / 1e6 / (time.perf_counter() - started))
        mbs[name] = mb
        real = "no capture"
        if stream:
            seconds_real = min(
                _timed(lambda raw=raw: [raw.scan(c, EXTERNALS) for c in stream]) for _ in range(3)
            )
            real = f"{sum(map(len, stream)) / 1e6 / seconds_real:,.0f}"
        rows.append([
            name, f"{loaded.rules.rule_count:,}", f"{compile_s:.2f}", f"{small_raw:,.0f}",
            f"{small_det:,.0f}", f"{chunk_det:,.0f} ({chunk_det * 65536 / 1e6:,.0f} MB/s)",
            f"{mb:,.0f}", real,
        ])  # fmt: skip
    cli = cli_rate(dirs, large)
    mbs["yara CLI"] = cli or 0.0
    version = _cli_version()
    rows.append([
        f"yara CLI {version}", "", "", "", "", "", f"{cli:,.0f}" if cli else "not installed", "",
    ])  # fmt: skip
    return rows, mbs


def _cli_version() -> str:
    if not shutil.which("yara"):
        return ""
    return subprocess.run(["yara", "--version"], capture_output=True, text=True).stdout.strip()


def cli_rate(dirs: list[Path], data: bytes) -> float | None:
    """The yara CLI's MB/s on ``data``: (run on data - run on an empty file), best of 3."""
    if not shutil.which("yara"):
        return None
    files = [str(p) for d in dirs for p in sorted(d.rglob("*.yar"))]
    defines = [f"--define={k}=" for k in ("filename", "filepath", "extension", "filetype", "owner")]
    taskset = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    with tempfile.TemporaryDirectory() as tmp:
        big, empty = Path(tmp) / "big.bin", Path(tmp) / "empty.bin"
        big.write_bytes(data)
        empty.write_bytes(b"")
        ns = [f"{Path(f).name}:{f}" for f in files]

        def timed(target: Path) -> float:
            started = time.perf_counter()
            subprocess.run(
                [*taskset, "yara", "-w", "-p", "1", *defines, *ns, str(target)],
                capture_output=True, check=True,
            )  # fmt: skip
            return time.perf_counter() - started

        overhead = min(timed(empty) for _ in range(3))
        scan = min(timed(big) for _ in range(3)) - overhead
    return len(data) / 1e6 / scan if scan > 0 else None


def pipeline_rows(capture: Path, quick: bool) -> list[list[str]]:
    """The sensor engine alone, then with the YARA detector, in fresh processes."""
    best: dict[str, list[str]] = {}
    for _ in range(1 if quick else 3):  # interleaved, the fastest run of each kept
        for engine in ("-", "yara-x", "yara-python"):
            cmd = [sys.executable, "-m", "bench.yara", "--pipeline-worker", str(capture), engine]
            if quick:
                cmd.append("--quick")
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
            row = out.stdout.strip().split("|")
            if engine not in best or float(row[2]) < float(best[engine][2]):
                best[engine] = row
    return list(best.values())


def pipeline_worker(capture: Path, engine: str, quick: bool) -> None:
    pin()
    from api.yara_rules import load_rule_pack
    from detectors.pipeline import DetectionPipeline
    from detectors.yara.config import YaraConfig
    from detectors.yara.detector import YaraDetector
    from detectors.yara.engine import engine_named
    from sensors.engine import SensorEngine

    detectors = []
    if engine != "-":
        yara = YaraDetector(YaraConfig(engine=engine), observer="bench")  # type: ignore[arg-type]
        rules = load_rule_pack([PACK], engine_named(engine)).rules
        assert rules is not None
        yara.use_rules(rules)
        detectors.append(yara)
    pipeline = DetectionPipeline(detectors)
    sensor = SensorEngine()
    size = packets = alerts = 0
    started = time.perf_counter()
    for result in sensor.read(capture):
        size += result.bytes
        packets += result.packets
        alerts += len(pipeline.on_content(result.content))
        if quick and packets > 100_000:
            break
    alerts += len(pipeline.on_content(sensor.finish().content))
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    scanned = pipeline.stats().get("yara", {}).get("bytes_scanned", 0)
    label = "sensor engine only" if engine == "-" else f"sensor engine + YARA ({engine})"
    print(
        f"{label}|{packets:,}|{elapsed:.1f}|{size * 8 / 1e6 / elapsed:,.0f}|"
        f"{scanned / 1e6:,.1f}|{alerts}|{rss:,.0f}"
    )


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results (markdown) here")
    parser.add_argument("--quick", action="store_true", help="smaller data, shorter loops")
    parser.add_argument("--rules", type=Path, action="append", help="rule folder(s)")
    parser.add_argument("--capture", type=Path, default=THROUGHPUT)
    parser.add_argument("--pipeline-worker", nargs=2, metavar=("CAPTURE", "ENGINE"))
    args = parser.parse_args()
    if args.pipeline_worker:
        pipeline_worker(Path(args.pipeline_worker[0]), args.pipeline_worker[1], args.quick)
        return
    pin()
    from bench.machine import describe

    dirs = args.rules or [PACK]
    stream = (
        capture_chunks(args.capture, (8 if args.quick else 1024) << 20)
        if args.capture.is_file()
        else []
    )
    rows, mbs = engines_rows(dirs, args.quick, stream)
    report = [
        "# YARA engines side by side",
        "",
        f"Generated by `python -m bench.yara{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; one core (CPU 0).",
        f"Rules: {', '.join(_shown(d) for d in dirs)}.",
        "",
        table(["machine", ""], [[k, v] for k, v in describe().items()]),
        "",
        "## Engines",
        "",
        table(
            [
                "engine",
                "rules",
                "compile s",
                "scans/s 1,500 B (engine)",
                "scans/s 1,500 B (detector path)",
                "scans/s 64 KiB chunks (detector path)",
                "MB/s large buffer",
                "MB/s capture's chunks",
            ],
            rows,
        ),
        "",
    ]
    cli = mbs.get("yara CLI") or 0.0
    if cli:
        for name in ("yara-x", "yara-python"):
            report.append(
                f"* {name}: {mbs[name] / cli:.0%} of the yara CLI's MB/s on the same data"
            )
    if args.capture.is_file():
        report += [
            "",
            f"## Whole pipeline on `{args.capture.name}`",
            "",
            table(
                [
                    "run",
                    "packets",
                    "seconds",
                    "Mbit/s",
                    "MB scanned by YARA (streams, files)",
                    "alerts",
                    "peak RSS MiB",
                ],
                pipeline_rows(args.capture, args.quick),
            ),
        ]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

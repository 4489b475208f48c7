"""The benchmark: ``.venv/bin/python -m bench.run [--quick] [--out bench/RESULTS.md]``.

Builds (or generates) the throughput capture, measures CityShield and its peers on it side by
side, one core each, best of N; then the scaling sweeps; prints a table and the verdicts and
writes the Markdown report. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/run.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import capture as capture_mod
from bench import machine, report, scaling
from bench.measure import Runner
from bench.peers import Measurement, Peer, Unavailable, peers

DEFAULT_OUT = capture_mod.ROOT / "bench" / "RESULTS.md"
#: Sections other benchmarks (bench.stores, bench.anomaly, bench.pki, ...) write into the same
#: file between ``<!-- NAME:start ... -->`` and ``<!-- NAME:end -->``: kept when this one rewrites.
_SECTION = re.compile(r"<!-- (\w+):start.*?<!-- \1:end -->\n?", re.DOTALL)


def kept_sections(path: Path) -> str:
    if not path.is_file():
        return ""
    found = [m.group(0) for m in _SECTION.finditer(path.read_text(encoding="utf-8"))]
    return "".join("\n" + f.rstrip("\n") + "\n" for f in found)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    p.add_argument("--out", type=Path, help="Markdown report (default: bench/RESULTS.md; "
                   "--quick writes none unless given)")  # fmt: skip
    p.add_argument("--repeat", type=int, help="runs per tool, best kept (default 3, quick 1)")
    p.add_argument("--slow-repeat", type=int, default=1,
                   help="runs for tshark, scapy, pyshark (default 1)")  # fmt: skip
    p.add_argument("--tshark-limit", type=int,
                   help="tshark reads only the first N packets (-c N), rate scaled; 0 = all "
                   "(default 0, quick 20000)")  # fmt: skip
    p.add_argument("--scapy-limit", type=int, help="scapy prefix (default 20000, quick 2000)")
    p.add_argument("--pyshark-limit", type=int, help="pyshark prefix (default 2000, quick 200)")
    p.add_argument("--cpu", type=int, default=0, help="core to pin every tool to (default 0)")
    p.add_argument("--capture", type=Path, help="benchmark this classic pcap instead")
    p.add_argument("--tools", help="comma-separated subset: engine,analyze,read,dpkt,nfstream,"
                   "tshark,scapy,pyshark")  # fmt: skip
    p.add_argument("--no-scaling", action="store_true", help="skip the flows/size sweeps")
    p.add_argument("--strict", action="store_true", help="exit 1 when a verdict fails")
    a = p.parse_args(argv)
    a.repeat = a.repeat or (1 if a.quick else 3)
    a.tshark_limit = a.tshark_limit if a.tshark_limit is not None else (20_000 if a.quick else 0)
    a.scapy_limit = a.scapy_limit or (2_000 if a.quick else 20_000)
    a.pyshark_limit = a.pyshark_limit or (200 if a.quick else 2_000)
    if a.out is None and not a.quick:
        a.out = DEFAULT_OUT
    return a


def measure_all(
    selected: list[Peer], runner: Runner, cap: capture_mod.Capture, repeat: int, slow_repeat: int
) -> dict[str, Measurement]:
    results = {p.key: Measurement(p.key, p.label, note=p.note) for p in selected}
    for p in selected:
        reason = p.available()
        if reason is not None:
            results[p.key].status = f"not available: {reason}"
            print(f"  {p.label}: not available ({reason})")
    # Runs of different tools are interleaved, so a burst of other load hits one run of each
    # rather than every run of one tool.
    for rep in range(max(repeat, slow_repeat)):
        for p in selected:
            m = results[p.key]
            if m.status != "ok" or rep >= (slow_repeat if p.slow else repeat):
                continue
            try:
                sample = p.measure_once(runner, cap)
            except Unavailable as exc:
                m.status = f"not available: {exc}"
                continue
            except RuntimeError as exc:
                m.status = f"failed: {exc}"
                print(f"  {p.label}: FAILED {exc}")
                continue
            m.samples.append(sample)
            print(
                f"  run {rep + 1}  {p.label:42} {sample.packets / sample.seconds:>12,.0f} packets/s"
                f"  {sample.seconds:8.3f} s  {sample.peak_rss_mib:6.0f} MiB"
            )
    return results


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    started_machine = machine.describe()
    runner = Runner(cpu=args.cpu, cwd=str(capture_mod.ROOT))
    if args.capture:
        cap = capture_mod.describe(args.capture.resolve(), "user-supplied capture")
    else:
        cap = capture_mod.throughput_capture(quick=args.quick)
    print(f"capture: {cap.path} — {cap.packets:,} packets, {cap.captured_bytes:,} bytes "
          f"(capinfos: {cap.capinfos_packets})")  # fmt: skip
    print(f"pinning: {runner.pinning}; best of {args.repeat} (slow tools {args.slow_repeat})")

    selected = peers(
        tshark_limit=args.tshark_limit,
        scapy_limit=args.scapy_limit,
        pyshark_limit=args.pyshark_limit,
    )
    if args.tools:
        wanted = set(args.tools.split(","))
        selected = [p for p in selected if p.key in wanted]
    results = measure_all(selected, runner, cap, args.repeat, args.slow_repeat)
    ordered = [results[p.key] for p in selected]
    engine = results.get("engine")
    reference = engine.pps if engine is not None and engine.ok else 0.0
    verdict_list = report.verdicts(results, cap)
    report.print_console(ordered, reference, verdict_list)

    rows: list[scaling.ScalingRow] = []
    if not args.no_scaling:
        print("scaling sweeps (CityShield decode+flow):")
        plan = scaling.QUICK if args.quick else scaling.FULL
        rows = scaling.run_sweeps(runner, plan, args.repeat)

    if args.out:
        from sensors.sources import CaptureSettings

        command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
        text = report.markdown(
            machine=started_machine,
            capture=cap,
            measurements=ordered,
            reference=reference,
            verdict_list=verdict_list,
            scaling=rows,
            settings={
                "command": command.strip(),
                "pinning": runner.pinning,
                "repeat": str(args.repeat),
                "slow_repeat": str(args.slow_repeat),
            },
            chunk_bytes=CaptureSettings().chunk_bytes,
            load_after=machine.load_average(),
        )
        args.out.write_text(text + kept_sections(args.out), encoding="utf-8")
        print(f"wrote {args.out}")
    failed = any(v.passed is False for v in verdict_list)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())

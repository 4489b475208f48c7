"""One measured tool, run in-process: ``python -m bench.worker TOOL CAPTURE [--limit N]``.

``bench.run`` starts this module in a fresh interpreter pinned to one core, so imports, numpy
warm-up and peak memory belong to the tool being measured and to nothing else. The timed region
is the tool's own work (open the capture, read every packet, finish); interpreter start-up and
imports are outside it and show up only in the process wall time that ``bench.run`` records.
The last line on stdout is a JSON object: ``packets``, ``bytes``, ``flows``, ``seconds``,
``cpu_seconds`` and tool-specific extras.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

Result = dict[str, Any]
#: pyshark is no project dependency: ``pip install --target DIR pyshark`` and point this at DIR
#: to measure it without touching the venv (its dependencies then shadow nothing else).
PYSHARK_PATH_VAR = "BENCH_PYSHARK_PATH"


def cityshield_engine(path: str, limit: int) -> Result:
    """Decode + flow tracking: ``SensorEngine.read`` over the capture, then ``finish``."""
    from sensors.engine import SensorEngine

    engine = SensorEngine()
    packets = flows_out = 0
    for result in engine.read(path):
        packets += result.packets
        flows_out += len(result.flows)
    flows_out += len(engine.finish().flows)
    stats = engine.stats
    return {
        "packets": packets,
        "bytes": stats.bytes,
        "flows": stats.flows_created,
        "flows_exported": flows_out,
        "flows_evicted": stats.flows_evicted,
        "flows_peak": stats.flows_peak,
        "decoded": stats.decoded,
    }


def cityshield_read(path: str, limit: int) -> Result:
    """Our capture reader alone (record walk into batches): the I/O ceiling."""
    from sensors.sources import open_capture

    reader = open_capture(path)
    packets = nbytes = 0
    try:
        for batch in reader.batches():
            packets += len(batch)
            nbytes += int(batch.caplen.sum())
    finally:
        reader.close()
    return {"packets": packets, "bytes": nbytes, "flows": None}


def dpkt_flows(path: str, limit: int) -> Result:
    """dpkt: Ethernet/IP/IP6/TCP/UDP decode and a dict of canonical 5-tuples (packets, bytes)."""
    import dpkt

    flows: dict[tuple[Any, ...], list[int]] = {}
    packets = nbytes = undecoded = 0
    ip4, ip6, tcp, udp = dpkt.ip.IP, dpkt.ip6.IP6, dpkt.tcp.TCP, dpkt.udp.UDP
    with open(path, "rb") as f:  # noqa: PTH123 (dpkt wants a file object)
        reader = dpkt.pcapng.Reader(f) if _is_pcapng(path) else dpkt.pcap.Reader(f)
        for _ts, buf in reader:
            packets += 1
            nbytes += len(buf)
            try:
                ip = dpkt.ethernet.Ethernet(buf).data
            except Exception:  # dpkt raises several types on short or odd frames
                undecoded += 1
                continue
            if not isinstance(ip, ip4 | ip6):
                continue
            l4 = ip.data
            if isinstance(l4, tcp | udp):
                a, b = (ip.src, l4.sport), (ip.dst, l4.dport)
            else:
                a, b = (ip.src, 0), (ip.dst, 0)
            proto = getattr(ip, "p", -1)  # unset on an IPv6 packet whose last extension is odd
            key = (proto, a, b) if a <= b else (proto, b, a)
            entry = flows.get(key)
            if entry is None:
                flows[key] = [1, len(buf)]
            else:
                entry[0] += 1
                entry[1] += len(buf)
    return {"packets": packets, "bytes": nbytes, "flows": len(flows), "undecoded": undecoded}


def nfstream_flows(path: str, limit: int) -> Result:
    """nfstream flow export, no dissection or statistics, one meter process."""
    from nfstream import NFStreamer

    streamer = NFStreamer(source=path, n_dissections=0, statistical_analysis=False, n_meters=1)
    flows = packets = nbytes = 0
    for flow in streamer:
        flows += 1
        packets += flow.bidirectional_packets
        nbytes += flow.bidirectional_bytes
    # nfstream counts only packets it put in flows (IP): the capture's count is what it read.
    return {"packets": None, "flow_packets": packets, "flow_bytes": nbytes, "flows": flows}


def scapy_loop(path: str, limit: int) -> Result:
    """scapy ``PcapReader``: read and dissect every packet (no flow table; it is already slow)."""
    from scapy.utils import PcapReader

    packets = nbytes = 0
    with PcapReader(path) as reader:
        for pkt in reader:
            packets += 1
            nbytes += len(pkt)
            if packets == limit:
                break
    return {"packets": packets, "bytes": nbytes, "flows": None}


#: Modules each tool needs, imported before the clock starts.
IMPORTS = {
    "engine": ("sensors.engine",),
    "read": ("sensors.sources",),
    "dpkt": ("dpkt",),
    "nfstream": ("nfstream",),
    "scapy": ("scapy.all",),  # loads the layers ``PcapReader`` dissects into
    "pyshark": ("pyshark",),
}


def pyshark_loop(path: str, limit: int) -> Result:
    """pyshark ``FileCapture``: tshark dissects, pyshark builds an object per packet (PDML)."""
    import pyshark  # found through BENCH_PYSHARK_PATH when it is not in the venv

    packets = nbytes = 0
    capture = pyshark.FileCapture(path, keep_packets=False)
    try:
        for pkt in capture:
            packets += 1
            nbytes += int(pkt.captured_length)
            if packets == limit:
                break
    finally:
        capture.close()
    return {"packets": packets, "bytes": nbytes, "flows": None}


TOOLS: dict[str, Callable[[str, int], Result]] = {
    "engine": cityshield_engine,
    "read": cityshield_read,
    "dpkt": dpkt_flows,
    "nfstream": nfstream_flows,
    "scapy": scapy_loop,
    "pyshark": pyshark_loop,
}


def _is_pcapng(path: str) -> bool:
    with open(path, "rb") as f:  # noqa: PTH123
        return f.read(4) == b"\x0a\x0d\x0d\x0a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("capture")
    parser.add_argument(
        "--limit", type=int, default=0, help="stop after N packets (scapy, pyshark)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the run to stderr")
    args = parser.parse_args(argv)
    tool = TOOLS[args.tool]
    if args.tool == "pyshark" and os.environ.get(PYSHARK_PATH_VAR):
        sys.path.insert(0, os.environ[PYSHARK_PATH_VAR])
    for module in IMPORTS[args.tool]:
        importlib.import_module(module)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    result = tool(args.capture, args.limit)
    result["seconds"] = time.perf_counter() - wall
    result["cpu_seconds"] = time.process_time() - cpu
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

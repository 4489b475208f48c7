"""How CityShield's decode+flow cost grows with concurrent flows and with packet size.

Synthetic IPv4/TCP captures from ``synth.write_uniform`` (packets dealt round-robin over N
distinct 5-tuples, so all N flows are live at once) are read by ``bench.worker engine``, pinned
and repeated like the main table. Two sweeps:

* flows: 100 to 1,000,000 distinct 5-tuples at a fixed packet count and frame size;
* size: 64, 512 and 1500-byte frames at a fixed packet count and number of flows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.capture import uniform_capture
from bench.measure import Runner
from bench.peers import Sample, worker_sample


@dataclass(frozen=True, slots=True)
class SweepPlan:
    flow_counts: tuple[int, ...]
    flow_packets: int
    flow_frame: int
    sizes: tuple[int, ...]
    size_packets: int
    size_flows: int


FULL = SweepPlan(
    (100, 10_000, 100_000, 1_000_000), 1_000_000, 128, (64, 512, 1500), 500_000, 10_000
)
QUICK = SweepPlan((100, 10_000, 100_000), 200_000, 128, (64, 1500), 100_000, 10_000)


@dataclass(frozen=True, slots=True)
class ScalingRow:
    sweep: str  # "flows" or "size"
    flows: int
    frame_bytes: int
    packets: int
    best: Sample

    @property
    def pps(self) -> float:
        return self.packets / self.best.seconds

    @property
    def mbit(self) -> float:
        return self.packets * self.frame_bytes * 8 / 1e6 / self.best.seconds

    @property
    def ns_per_packet(self) -> float:
        return self.best.seconds * 1e9 / self.packets


def run_sweeps(
    runner: Runner, plan: SweepPlan, repeat: int, log: Callable[[str], None] = print
) -> list[ScalingRow]:
    cases = [("flows", f, plan.flow_frame, plan.flow_packets) for f in plan.flow_counts]
    cases += [("size", plan.size_flows, s, plan.size_packets) for s in plan.sizes]
    rows = []
    for sweep, flows, frame, packets in cases:
        path = uniform_capture(packets, flows, frame)
        samples = []
        for _ in range(repeat):
            samples.append(worker_sample(runner, "engine", path))
        best = min(samples, key=lambda s: s.seconds)
        best.peak_rss_mib = max(s.peak_rss_mib for s in samples)
        if best.counted != packets:  # reported, not fatal: the sweep is about cost
            log(f"  WARNING {path.name}: the engine counted {best.counted} of {packets} packets")
        row = ScalingRow(sweep, flows, frame, packets, best)
        log(
            f"  {sweep:5} flows={flows:>9,} frame={frame:>5} B: {row.pps:>12,.0f} packets/s "
            f"{row.mbit:>8,.0f} Mbit/s  {best.peak_rss_mib:,.0f} MiB  "
            f"flows created {best.extra.get('flows', 0):,}"
        )
        rows.append(row)
    return rows

"""Why a flow was unusual, in words an analyst can check, and the ATT&CK techniques it fits.

IsolationForest gives a score, not reasons, so the explanation ranks features by how far the
flow's value is from the benign baseline: robust z-scores (distance from the median in units of
the interquartile range) for quantities, and rarity (the share of baseline flows with that value,
turned into the normal deviate of the same tail probability) for classes and flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.anomaly import ports
from detectors.anomaly.features import FEATURES, INDEX, Feature, to_raw
from detectors.anomaly.model import Baseline

F64 = npt.NDArray[np.float64]
_COMMON = 0.05  # a class value at least this common is not unusual


@dataclass(frozen=True, slots=True)
class Reason:
    feature: str
    value: float  # raw unit
    unit: str
    deviation: float  # robust z or rarity, signed (negative: below the baseline)
    text: str


def deviations(row: F64, baseline: Baseline) -> F64:
    spread = np.maximum(baseline.q3 - baseline.q1, (baseline.p99 - baseline.p01) / 4)
    z = (row - baseline.median) / np.maximum(spread, 1e-3)
    for i, shares in baseline.shares.items():
        share = shares.get(float(row[i]), 0.0)
        z[i] = 0.0 if share >= _COMMON else math.sqrt(-2 * math.log(max(share, 1e-9)))
    return z


def explain(row: F64, baseline: Baseline, top: int = 3) -> list[Reason]:
    """The ``top`` features furthest from the baseline (only those that are, |z| >= 2)."""
    z = deviations(row, baseline)
    order = np.argsort(-np.abs(z), kind="stable")[:top]
    return [_reason(int(i), row, baseline, float(z[i])) for i in order if abs(z[i]) >= 2]


def _reason(i: int, row: F64, baseline: Baseline, z: float) -> Reason:
    f = FEATURES[i]
    value = float(to_raw(row[i], f))
    if i in baseline.shares:
        share = baseline.shares[i].get(float(row[i]), 0.0)
        text = f"{f.name} {_category(f, value)}, {share:.2%} of baseline flows"
    else:
        median = float(to_raw(baseline.median[i], f))
        p99 = float(to_raw(baseline.p99[i], f))
        text = (
            f"{f.name} {fmt(value, f.unit)}, baseline median {fmt(median, f.unit)} "
            f"(p99 {fmt(p99, f.unit)})"
        )
    return Reason(f.name, value, f.unit, z, text)


def _category(f: Feature, value: float) -> str:
    if f.unit == "flag":
        return "yes" if value else "no"
    if f.name == "port_class":
        return ports.CLASS_NAMES[int(value)]
    return {0: "TCP", 1: "UDP", 2: "ICMP"}.get(int(value), "other")


def fmt(value: float, unit: str) -> str:
    """A value with its unit, scaled for reading: 48.2 MB, 3.5 s, 1.7 h, x120."""
    if unit == "bytes":
        for div, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(value) >= div:
                return f"{value / div:.1f} {name}"
        return f"{value:.0f} B"
    if unit == "ms":
        for div, name in ((3.6e6, "h"), (6e4, "min"), (1e3, "s")):
            if abs(value) >= div:
                return f"{value / div:.1f} {name}"
        return f"{value:.1f} ms"
    if unit == "ln ratio":
        return f"x{math.exp(value):.3g}" if value >= 0 else f"x1/{math.exp(-value):.3g}"
    if unit == "bits/byte" and value < 0:
        return "not seen"
    if unit in ("ratio", "bits/byte", "bits/char"):
        return f"{value:.2f}"
    return f"{value:.0f} {unit}"


def techniques(row: F64, reasons: list[Reason], resp_port: int) -> list[str]:
    """ATT&CK techniques whose pattern the flow shows, and only when the features that made it
    unusual are that pattern's; otherwise none (an anomaly is not an attribution)."""
    top = {r.feature for r in reasons}
    raw = {f.name: float(to_raw(row[INDEX[f.name]], f)) for f in FEATURES}
    port_class = int(raw["port_class"])
    out: list[str] = []
    if (
        top & {"orig_payload", "orig_bytes", "payload_ratio", "host_out_in"}
        and raw["orig_payload"] >= 1e6
        and raw["payload_ratio"] >= math.log(10)
    ):
        out.append("T1048")  # Exfiltration Over Alternative Protocol
    if (
        top & {"host_services", "host_dsts", "host_failed_ratio", "tcp_failed", "host_flows"}
        and raw["host_services"] >= 20
        and raw["host_failed_ratio"] >= 0.5
    ):
        out.append("T1046")  # Network Service Discovery
    if (
        top & {"pair_flows", "host_flows", "duration"}
        and raw["pair_flows"] >= 10
        and port_class in (ports.REMOTE_ADMIN, ports.MAIL)
        and raw["duration"] < 60_000
    ):
        out.append("T1110")  # Brute Force
    dns_signs = {
        "orig_payload",
        "orig_mean_size",
        "orig_bytes",
        "host_dns_flows",
        "host_dns_qlen",
        "host_dns_entropy",
        "resp_payload",
    }
    if (
        port_class == ports.DNS
        and top & dns_signs
        and (
            raw["orig_mean_size"] >= 150
            or raw["host_dns_qlen"] >= 50
            or raw["host_dns_flows"] >= 200
        )
    ):
        out.append("T1071.004")  # Application Layer Protocol: DNS
    elif (
        top & {"pair_flows", "pair_interval_cv", "pair_interval_mean"}
        and raw["pair_interval_cv"] <= 0.35
        and raw["pair_flows"] >= 5
        and "T1110" not in out
    ):
        out.append("T1071")  # Application Layer Protocol (a regular check-in)
        if resp_port in (443, 8443, 993, 995, 465):
            out.append("T1573")  # Encrypted Channel
    return out

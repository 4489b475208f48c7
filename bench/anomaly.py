"""Anomaly model speed: scoring flows per second on one core (in batches, features included),
training time on 1,000,000 flows, and peak memory.

    .venv/bin/python -m bench.anomaly              # 1,000,000 flows
    .venv/bin/python -m bench.anomaly --flows 200000

Flows are synthetic ``FlowBatch`` columns drawn with numpy (a site of a few thousand hosts talking
to web, DNS, mail, SSH and NTP services), so the measurement is of features and model, not of
packet decoding. The process pins itself to one core and limits native thread pools to one
thread before numpy and scikit-learn load.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from api.models.dataset import Dataset, FlowKeys  # noqa: E402
from api.models.training import TrainSettings, fit  # noqa: E402
from detectors.anomaly.extractor import ContentSeen, ExtractorSettings, FeatureExtractor  # noqa: E402
from detectors.anomaly.model import AnomalyModel, Baseline  # noqa: E402
from sensors.flows import FlowBatch  # noqa: E402
from sensors.flows.arrays import empty_columns  # noqa: E402

BATCH = 65_536


def synthetic_flows(n: int, seed: int = 0) -> FlowBatch:
    rng = np.random.default_rng(seed)
    c = empty_columns(n)
    start = 1_772_438_400 * 10**9 + np.sort(rng.integers(0, 3600 * 10**9, n))
    c["start_ns"] = start
    c["last_ns"] = start + rng.lognormal(18, 2, n).astype(np.int64)
    c["a_lo"] = (0xFFFF_0000_0000 | (0x0A140000 + rng.zipf(1.5, n) % 5000)).astype(np.uint64)
    c["b_lo"] = (0xFFFF_0000_0000 | (0xC6336400 + rng.integers(1, 60, n))).astype(np.uint64)
    service = rng.choice(5, n, p=[0.6, 0.25, 0.05, 0.05, 0.05])
    c["pb"] = np.array([443, 53, 25, 22, 123], np.uint16)[service]
    c["pa"] = rng.integers(32768, 61000, n).astype(np.uint16)
    c["proto"] = np.where((service == 1) | (service == 4), 17, 6).astype(np.uint8)
    pkts = rng.geometric(0.1, (n, 2))
    c["pkts"] = pkts
    c["payload"] = (pkts * rng.integers(0, 1400, (n, 2))).astype(np.int64)
    c["ip_bytes"] = c["payload"] + 40 * pkts
    c["iat_n"] = np.maximum(pkts - 1, 0)
    c["iat_sum"] = c["iat_n"] * rng.integers(1000, 10**8, (n, 2))
    tcp = c["proto"] == 6
    c["n_syn"][:, 0] = tcp
    c["n_synack"][:, 1] = tcp & (rng.random(n) > 0.01)
    return FlowBatch(c, np.ones(n, np.uint8), ["synthetic"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.anomaly")
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--cpu", type=int, default=0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    flows = synthetic_flows(args.flows)
    print(f"flows: {len(flows):,} synthetic, batches of {BATCH:,}, one core (cpu {args.cpu})")

    t0 = time.perf_counter()
    fx = FeatureExtractor()
    rows = np.vstack([fx.transform(flows.take(np.arange(i, min(i + BATCH, len(flows)))))
                      for i in range(0, len(flows), BATCH)])  # fmt: skip
    t_features = time.perf_counter() - t0
    data = Dataset(rows, FlowKeys(), [], ContentSeen())
    t0 = time.perf_counter()
    pipeline, card = fit(data, "bench", TrainSettings(), ExtractorSettings())
    t_fit = time.perf_counter() - t0
    print(f"training: features {t_features:.1f} s + fit and calibration {t_fit:.1f} s = "
          f"{t_features + t_fit:.1f} s for {len(flows):,} flows")  # fmt: skip

    model = AnomalyModel("bench", pipeline, card.threshold, card.target_fpr,
                         Baseline.of(rows[:100_000]), ExtractorSettings())  # fmt: skip
    scoring = FeatureExtractor()
    batches = [flows.take(np.arange(i, min(i + BATCH, len(flows))))
               for i in range(0, len(flows), BATCH)]  # fmt: skip
    t0 = time.perf_counter()
    model_seconds = 0.0
    flagged = 0
    for b in batches:
        r = scoring.transform(b)
        m0 = time.perf_counter()
        flagged += int((model.scores(r) > model.threshold).sum())
        model_seconds += time.perf_counter() - m0
    total = time.perf_counter() - t0
    n = len(flows)
    print(f"scoring (features + model): {n / total:,.0f} flows/s ({total:.2f} s); "
          f"model alone {n / model_seconds:,.0f} rows/s; flagged {flagged:,}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (RSS): {peak:,.0f} MiB")


if __name__ == "__main__":
    main()

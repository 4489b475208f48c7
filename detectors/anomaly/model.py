"""A trained model as the detector receives it: an estimator, a threshold and the baseline.

``api.models`` loads and checks model files; detectors get the object and never touch a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.anomaly.extractor import ExtractorSettings
from detectors.anomaly.features import FEATURES

F64 = npt.NDArray[np.float64]


class Scorer(Protocol):
    """What scoring needs of a fitted scikit-learn estimator: higher means more normal."""

    def score_samples(self, X: F64) -> F64: ...


@dataclass(frozen=True, slots=True)
class Baseline:
    """Per feature, in model space, over the benign training flows: robust location and spread,
    and for class and flag features how often each value occurred (value -> share)."""

    median: F64
    q1: F64
    q3: F64
    p01: F64
    p99: F64
    shares: dict[int, dict[float, float]] = field(default_factory=dict)

    @staticmethod
    def of(rows: F64) -> Baseline:
        q = np.quantile(rows, [0.01, 0.25, 0.5, 0.75, 0.99], axis=0)
        shares: dict[int, dict[float, float]] = {}
        for i, f in enumerate(FEATURES):
            if f.unit in ("class", "flag"):
                values, counts = np.unique(rows[:, i], return_counts=True)
                shares[i] = {
                    float(v): float(c) / len(rows)
                    for v, c in zip(values.tolist(), counts.tolist(), strict=True)
                }
        return Baseline(median=q[2], q1=q[1], q3=q[3], p01=q[0], p99=q[4], shares=shares)


@dataclass(frozen=True, slots=True)
class AnomalyModel:
    name: str
    estimator: Scorer
    threshold: float
    target_fpr: float
    baseline: Baseline
    extractor: ExtractorSettings

    def scores(self, rows: F64) -> F64:
        """Anomaly scores, higher is more unusual (the negated ``score_samples``)."""
        if len(rows) == 0:
            return np.zeros(0)
        return -np.asarray(self.estimator.score_samples(rows), dtype=np.float64)

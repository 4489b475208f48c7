"""Thresholds from benign scores: the score that benign flows exceed at the target rate.

With ``n`` benign calibration scores, the threshold for a target false-positive rate ``f`` is the
``ceil(f * n)``-th highest score: at most that many benign flows score above it (a conformal
quantile; Vovk et al., "Algorithmic Learning in a Random World", 2005). A rate below ``1 / n``
cannot be calibrated from ``n`` flows and is refused rather than guessed.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from api.models.card import Calibration
from cityshield.errors import ConfigError

TAIL = 2000  # scores kept in the card: rates up to 2000 / n can be set later


def calibration_of(scores: npt.NDArray[np.float64]) -> Calibration:
    top = np.sort(scores)[::-1][:TAIL]
    return Calibration(flows=len(scores), tail=[float(s) for s in top])


def threshold_for(calibration: Calibration, target_fpr: float, *, where: str = "model") -> float:
    if not 0 < target_fpr < 1:
        raise ConfigError(
            f"target false-positive rate must be in (0, 1), not {target_fpr}", where=where
        )
    n = calibration.flows
    k = math.ceil(target_fpr * n)
    if target_fpr * n < 1:
        raise ConfigError(
            f"a false-positive rate of {target_fpr:g} needs at least {math.ceil(1 / target_fpr):,} "
            f"benign calibration flows; this model has {n:,}: train on more baseline traffic",
            where=where,
        )
    if k > len(calibration.tail):
        raise ConfigError(
            f"the card keeps the top {len(calibration.tail):,} of {n:,} calibration scores: "
            f"rates above {len(calibration.tail) / n:.3g} need retraining",
            where=where,
        )
    # Flows scoring strictly above the k-th highest: fewer than k of the n, so FPR <= target.
    return calibration.tail[k - 1]

"""Training, calibration and evaluation on the small labelled set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from api.models.calibration import calibration_of, threshold_for
from api.models.card import Calibration
from api.models.dataset import extract
from api.models.evaluation import detection_rate, evaluate_capture
from api.models.store import ModelStore
from api.models.training import TrainSettings, fit
from cityshield.errors import ConfigError
from detectors.anomaly.extractor import ExtractorSettings


def test_threshold_bounds_the_false_positive_rate() -> None:
    scores = np.random.default_rng(1).random(10_000)
    cal = calibration_of(scores)
    for fpr in (1e-3, 1e-2, 0.05):
        t = threshold_for(cal, fpr)
        assert (scores > t).mean() <= fpr
        assert (scores >= t).mean() >= fpr - 1e-9


def test_threshold_refuses_what_it_cannot_calibrate() -> None:
    cal = Calibration(flows=500, tail=[1.0] * 500)
    with pytest.raises(ConfigError, match="needs at least 1,000 benign calibration flows"):
        threshold_for(cal, 1e-3)
    with pytest.raises(ConfigError, match="must be in"):
        threshold_for(cal, 1.5)


def test_detection_rate() -> None:
    benign = np.arange(1000, dtype=float)
    attack = np.array([998.5, 999.5, 10.0])
    # 1 of 1000 benign scores may be above the threshold at 1e-3: 999 is, 998 is the threshold
    assert detection_rate(benign, attack, 1e-3) == pytest.approx(2 / 3)
    assert detection_rate(benign, attack, 5e-4) == pytest.approx(1 / 3)


def test_local_outlier_factor_alternative(labelled: Path) -> None:
    data = extract([labelled / "baseline.pcap"], ExtractorSettings())
    ts = TrainSettings(algorithm="local_outlier_factor", target_fpr=1e-2, lof_max_rows=2000)
    pipeline, card = fit(data, "lof", ts, ExtractorSettings())
    assert card.algorithm == "local_outlier_factor" and card.parameters["n_neighbors"] == 20
    assert math.isfinite(card.threshold)
    assert pipeline.score_samples(data.rows[:5]).shape == (5,)


def test_evaluation_separates_attacks_from_benign(trained: ModelStore, labelled: Path) -> None:
    model, _ = trained.load("small")
    for kind in ("exfiltration", "slow_scan", "brute_force"):
        r = evaluate_capture(model, labelled / f"{kind}.pcap")
        assert r.kind == kind and r.attack_flows > 0 and r.unlabelled_flows == 0
        assert r.roc_auc is not None and r.roc_auc >= 0.9, (kind, r)
    held = evaluate_capture(model, labelled / "heldout.pcap")
    assert held.kind == "benign" and held.attack_flows == 0
    assert held.fpr_at_threshold <= 0.05

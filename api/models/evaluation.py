"""How well a model separates attacks from a site's ordinary traffic, on labelled captures.

Per attack capture (ordinary traffic with one attack played over it): ROC AUC and PR AUC of the
attack flows against that capture's benign flows, and the detection rate (share of attack flows
flagged) at benign false-positive rates of 1e-3 and 1e-2 (thresholds set on that capture's benign
flows) and at the model's own calibrated threshold. Per benign capture held back from training:
the false-positive rate at the model's threshold, which calibration promised to be near the
target. Rows are flows; labels come from the capture's ``.labels.json`` by 5-tuple.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError
from sklearn.metrics import average_precision_score, roc_auc_score

from api.demo.labelled import Labels, labels_path
from api.models.dataset import FlowKeys, extract
from cityshield.errors import ConfigError
from detectors.anomaly.model import AnomalyModel
from sensors.engine import SensorSettings

F64 = npt.NDArray[np.float64]
RATES = (1e-3, 1e-2)
_PROTO = {"tcp": 6, "udp": 17}


@dataclass(frozen=True, slots=True)
class CaptureResult:
    capture: str
    kind: str  # the attack kind, or "benign"
    attack_flows: int
    benign_flows: int
    unlabelled_flows: int
    roc_auc: float | None
    pr_auc: float | None
    detection: dict[float, float]  # FPR -> detection rate
    detection_at_threshold: float | None
    false_positives: int
    fpr_at_threshold: float


def read_labels(capture: Path) -> Labels:
    path = labels_path(capture)
    if not path.is_file():
        raise ConfigError(
            f"no labels next to the capture (expected {path.name})", where=str(capture)
        )
    try:
        return Labels.model_validate(json.loads(path.read_bytes()))
    except (ValueError, ValidationError) as exc:
        raise ConfigError(
            f"not a labels file: {str(exc).splitlines()[0]}", where=str(path)
        ) from None


def match(keys: FlowKeys, labels: Labels) -> list[str | None]:
    """Each row's label by 5-tuple, either way round (the sensor may see the other originator)."""
    by_tuple: dict[tuple[int, str, int, str, int], str] = {}
    for f in labels.flows:
        p = _PROTO[f.transport]
        by_tuple[(p, f.orig_h, f.orig_p, f.resp_h, f.resp_p)] = f.label
        by_tuple[(p, f.resp_h, f.resp_p, f.orig_h, f.orig_p)] = f.label
    rows = zip(keys.transport, keys.orig, keys.orig_port, keys.resp, keys.resp_port, strict=True)
    return [by_tuple.get(r) for r in rows]


def detection_rate(benign: F64, attack: F64, fpr: float) -> float:
    """Share of attack scores above the highest threshold that flags at most ``fpr`` of benign."""
    ranked = np.sort(benign)[::-1]
    k = int(np.floor(fpr * len(ranked)))
    threshold = ranked[min(k, len(ranked) - 1)]
    return float((attack > threshold).mean()) if len(attack) else float("nan")


def evaluate_capture(
    model: AnomalyModel, capture: Path, sensor: SensorSettings | None = None
) -> CaptureResult:
    labels = read_labels(capture)
    data = extract([capture], model.extractor, sensor, keys=True)
    scores = model.scores(data.rows)
    names = match(data.keys, labels)
    known = np.array([n is not None for n in names], dtype=bool)
    attack = np.array([n not in (None, "benign") for n in names], dtype=bool)
    benign = known & ~attack
    b, a = scores[benign], scores[attack]
    fp = int((b > model.threshold).sum())
    result: dict[str, Any] = {
        "capture": capture.name,
        "kind": labels.attack.kind if labels.attack else "benign",
        "attack_flows": int(attack.sum()),
        "benign_flows": int(benign.sum()),
        "unlabelled_flows": int((~known).sum()),
        "false_positives": fp,
        "fpr_at_threshold": fp / max(len(b), 1),
    }
    if len(a) and len(b):
        y = np.concatenate([np.zeros(len(b)), np.ones(len(a))])
        s = np.concatenate([b, a])
        return CaptureResult(
            **result,
            roc_auc=float(roc_auc_score(y, s)),
            pr_auc=float(average_precision_score(y, s)),
            detection={r: detection_rate(b, a, r) for r in RATES},
            detection_at_threshold=float((a > model.threshold).mean()),
        )
    return CaptureResult(
        **result,
        roc_auc=None,
        pr_auc=None,
        detection={},
        detection_at_threshold=None,
    )

"""The anomaly detector: every ended flow scored against the site's baseline, in batches.

Scoring is one vectorised pass per batch (features, then the estimator on all rows at once):
IsolationForest scores hundreds of thousands of rows per second in batches but only a few
hundred single-row calls. Flows over the model's threshold become alerts, one per originator,
responder and port within a batch (repeats aggregate further downstream), with the score, the
threshold and the features that made the worst flow unusual.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from cityshield.errors import ConfigError
from detectors.anomaly.explain import explain, techniques
from detectors.anomaly.extractor import FeatureExtractor
from detectors.anomaly.model import AnomalyModel
from detectors.base import Detector, DetectorConfig
from detectors.heuristics.common import ns_time
from sensors.events import DnsSeen, StreamChunk
from sensors.flows import FlowBatch
from sensors.flows.ended import TRANSPORT_NAMES

RULE = RuleRef(
    id="anomaly.flow",
    name="Flow unusual for this site",
    version="1",
    description="A flow far from the site's benign baseline, by the anomaly model.",
    category="anomaly",
)


class AnomalyConfig(DetectorConfig):
    #: Off unless a model is given (``cityshield analyze --model NAME`` or ``models.default``).
    enabled: bool = False
    severity: Severity = Severity.MEDIUM
    top_features: int = Field(3, ge=1, le=10, description="features named in an explanation")


class AnomalyDetector(Detector[AnomalyConfig]):
    id = "anomaly"
    version = "1"
    description = "Flows unusual for the site's baseline (scikit-learn model, per-host windows)."
    config_model = AnomalyConfig

    def __init__(
        self, config: AnomalyConfig, *, observer: str, model: AnomalyModel | None = None
    ) -> None:
        super().__init__(config, observer=observer)
        if model is None:
            raise ConfigError(
                "the anomaly detector needs a trained model: pass --model NAME to "
                "`cityshield analyze`, or set models.default (train one with `cityshield train`)",
                where="detectors.anomaly",
            )
        self.model = model
        self.extractor = FeatureExtractor(model.extractor)
        self._scored = 0
        self._over = 0

    def stats(self) -> dict[str, int]:
        return {
            "flows_scored": self._scored,
            "flows_over_threshold": self._over,
            **self.extractor.stats(),
        }

    def on_stream_chunks(self, chunks: Sequence[StreamChunk]) -> list[Alert]:
        self.extractor.on_stream_chunks(chunks)
        return []

    def on_dns_seen(self, records: Sequence[DnsSeen]) -> list[Alert]:
        self.extractor.on_dns_seen(records)
        return []

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        rows = self.extractor.transform(flows)
        scores = self.model.scores(rows)
        self._scored += len(flows)
        hits = np.flatnonzero(scores > self.model.threshold)
        self._over += len(hits)
        if not len(hits):
            return []
        hit = flows.take(hits)
        groups: dict[tuple[str, str, int, int], list[int]] = defaultdict(list)
        keys = zip(
            hit.orig_ips(),
            hit.resp_ips(),
            hit.resp_port.tolist(),
            hit.cols["proto"].tolist(),
            strict=True,
        )
        for j, key in enumerate(keys):
            groups[key].append(j)
        return [self._alert(hit, rows[hits], scores[hits], key, js) for key, js in groups.items()]

    def _alert(
        self,
        hit: FlowBatch,
        rows: Any,
        scores: Any,
        key: tuple[str, str, int, int],
        members: list[int],
    ) -> Alert:
        src, dst, port, proto = key
        worst = max(members, key=lambda j: float(scores[j]))
        reasons = explain(rows[worst], self.model.baseline, self.config.top_features)
        transport = TRANSPORT_NAMES.get(proto, str(proto))
        score, threshold = float(scores[worst]), self.model.threshold
        because = "; ".join(r.text for r in reasons) or "an unusual combination of features"
        c = hit.cols
        flow_ids, cids = hit.flow_ids(), hit.community_ids()
        capture = hit.captures[int(c["capture"][members[0]])] if hit.captures else None
        return Alert.raised(
            rule=RULE,
            severity=self.config.severity,
            message=(
                f"{src} -> {dst}:{port}/{transport} unusual for this site (score {score:.3f} > "
                f"threshold {threshold:.3f}): {because}"
            ),
            observer=self.observer,
            first_seen=ns_time(int(c["start_ns"][members].min())),
            last_seen=ns_time(int(c["last_ns"][members].max())),
            source=Endpoint(ip=src),
            destination=Endpoint(ip=dst, port=port),
            transport=transport,
            community_id=cids[worst],
            techniques=techniques(rows[worst], reasons, port),
            count=len(members),
            evidence=Evidence.bounded(
                flow_ids=[flow_ids[j] for j in members],
                community_ids=[cids[j] for j in members],
                capture_file=capture,
                frames=[int(c["first_frame"][j]) for j in members],
            ),
            data={
                "model": self.model.name,
                "score": round(score, 6),
                "threshold": round(threshold, 6),
                "target_fpr": self.model.target_fpr,
                "flows": len(members),
                "explanation": because,
                "features": [
                    {
                        "name": r.feature,
                        "value": round(r.value, 6),
                        "unit": r.unit,
                        "deviation": round(r.deviation, 2),
                    }
                    for r in reasons
                ],
            },
        )

"""The detector on real flows with a real (small) IsolationForest: alerts carry the score, the
threshold, an explanation and techniques only where the pattern fits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scapy.packet import Packet
from sklearn.ensemble import IsolationForest

from cityshield.errors import ConfigError
from detectors.anomaly.detector import AnomalyConfig, AnomalyDetector
from detectors.anomaly.explain import explain, fmt, techniques
from detectors.anomaly.extractor import ExtractorSettings, FeatureExtractor
from detectors.anomaly.features import FEATURES, INDEX
from detectors.anomaly.model import AnomalyModel, Baseline
from sensors.flows import FlowBatch
from tests.unit.detectors.conftest import T0, session, syn_probe

Flows = Callable[[list[Packet]], FlowBatch]


def benign(i: int) -> list[Packet]:
    return session(
        f"10.0.{i % 7}.{i % 200 + 1}",
        "198.51.100.10",
        40000 + i,
        443,
        T0 + i * 7,
        client=b"g" * (300 + i % 50),
        server=b"p" * (4000 + 37 * (i % 90)),
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> AnomalyModel:
    from scapy.utils import wrpcap

    from sensors.engine import SensorEngine

    path = tmp_path_factory.mktemp("base") / "base.pcap"
    pkts = sorted((p for i in range(300) for p in benign(i)), key=lambda p: float(p.time))
    wrpcap(str(path), pkts)
    engine = SensorEngine(seed=7)
    flows = FlowBatch.concat([r.flows for r in engine.read(path)] + [engine.finish().flows])
    rows = FeatureExtractor().transform(flows)
    forest = IsolationForest(n_estimators=50, max_samples=256, random_state=0).fit(rows)
    threshold = float(np.quantile(-forest.score_samples(rows), 0.99))
    return AnomalyModel("t", forest, threshold, 1e-2, Baseline.of(rows), ExtractorSettings())


def test_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="needs a trained model"):
        AnomalyDetector(AnomalyConfig(enabled=True), observer="t")


def test_scan_is_alerted_with_score_threshold_and_explanation(
    model: AnomalyModel, flows_of: Flows
) -> None:
    detector = AnomalyDetector(AnomalyConfig(enabled=True), observer="t", model=model)
    pkts: list[Packet] = []
    for port in range(1, 41):
        pkts += syn_probe(
            "192.0.2.66", "198.51.100.10", 50000 + port, port, T0 + port, answer="rst"
        )
    alerts = detector.on_flow_ended(flows_of(pkts))
    assert alerts, "a scan from a new source must be unusual against web-only traffic"
    a = alerts[0]
    assert a.rule.id == "anomaly.flow" and a.source is not None and a.source.ip == "192.0.2.66"
    assert isinstance(a.data["score"], float) and a.data["score"] > a.data["threshold"]
    assert a.data["threshold"] == round(model.threshold, 6)
    assert "baseline" in str(a.data["explanation"])
    assert a.evidence.flow_ids
    assert sum(x.count for x in alerts) == detector.stats()["flows_over_threshold"]


def test_ordinary_flow_is_quiet(model: AnomalyModel, flows_of: Flows) -> None:
    detector = AnomalyDetector(AnomalyConfig(enabled=True), observer="t", model=model)
    assert detector.on_flow_ended(flows_of(benign(5))) == []
    assert detector.stats()["flows_scored"] == 1


def test_explanation_names_the_far_features(model: AnomalyModel) -> None:
    row = model.baseline.median.copy()
    row[INDEX["orig_payload"]] = np.log1p(48e6)
    row[INDEX["payload_ratio"]] = np.log1p(48e6) - np.log1p(300)
    reasons = explain(row, model.baseline, top=2)
    assert {r.feature for r in reasons} == {"orig_payload", "payload_ratio"}
    text = next(r.text for r in reasons if r.feature == "orig_payload")
    assert text.startswith("orig_payload 48.0 MB, baseline median ")
    assert "T1048" in techniques(row, reasons, 443)
    assert techniques(model.baseline.median, [], 443) == []


def test_units_read_well() -> None:
    assert fmt(48e6, "bytes") == "48.0 MB"
    assert fmt(3100, "bytes") == "3.1 kB"
    assert fmt(90_000, "ms") == "1.5 min"
    assert fmt(np.log(120), "ln ratio") == "x120"
    assert fmt(-1, "bits/byte") == "not seen"
    assert len(FEATURES) == len(INDEX)

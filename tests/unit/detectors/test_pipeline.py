from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

import pytest
from scapy.packet import Packet

from alerts.model import Alert
from detectors.base import Detector, DetectorConfig
from detectors.heuristics.port_scan import PortScanConfig, PortScanDetector
from detectors.pipeline import DetectionPipeline
from sensors.flows import FlowBatch
from tests.unit.detectors.conftest import T0, syn_probe

Flows = Callable[[list[Packet]], FlowBatch]


class Exploding(Detector[DetectorConfig]):
    id: ClassVar[str] = "exploding"

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        raise RuntimeError("bug in a rule")


def scan(ports: range) -> list[Packet]:
    pkts: list[Packet] = []
    for i, p in enumerate(ports):
        pkts += syn_probe(
            "192.0.2.66", "198.51.100.10", 40000, p, T0 + p * 0.01 + i * 0, answer="rst"
        )
    return pkts


def test_a_crashing_detector_is_counted_and_the_others_go_on(
    flows_of: Flows, caplog: pytest.LogCaptureFixture
) -> None:
    scanner = PortScanDetector(PortScanConfig(), observer="t")
    pipeline = DetectionPipeline([Exploding(DetectorConfig(), observer="t"), scanner])
    with caplog.at_level(logging.ERROR):
        alerts = pipeline.on_flow_ended(flows_of(scan(range(1, 31))))
        pipeline.on_flow_ended(flows_of(scan(range(31, 35))))
    assert [a.rule.id for a in alerts] == ["port_scan.vertical"]
    health = pipeline.stats()
    assert health["exploding"]["errors"] == 2
    assert health["exploding"]["degraded"] is True
    assert "RuntimeError: bug in a rule" in health["exploding"]["last_error"]
    assert health["port_scan"]["degraded"] is False
    assert "detector exploding failed" in caplog.text


def test_repeats_across_batches_aggregate_into_one_alert(flows_of: Flows) -> None:
    pipeline = DetectionPipeline([PortScanDetector(PortScanConfig(), observer="t")])
    first = pipeline.on_flow_ended(flows_of(scan(range(1, 26))))
    second = pipeline.on_flow_ended(flows_of(scan(range(26, 41))))
    assert [a.count for a in first] == [25]
    assert [a.count for a in second] == [40]
    assert first[0].id == second[0].id


def test_subscriptions_follow_the_overridden_handlers() -> None:
    assert Exploding.subscriptions() == frozenset({"on_flow_ended"})

    class Idle(Detector[DetectorConfig]):
        id: ClassVar[str] = "idle"

    assert Idle.subscriptions() == frozenset()

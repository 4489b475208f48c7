"""The detection pipeline: facts to the detectors that subscribe to them, alerts to aggregation.

A detector that raises is logged, counted and marked degraded, and the pipeline goes on: one bad
rule must not blind the sensor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.aggregation import AggregationSettings, AlertAggregator
from alerts.model import Alert
from detectors.base import HANDLERS, Detector
from sensors.events import ContentFacts
from sensors.flows import FlowBatch

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DetectorHealth:
    alerts: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_error: str = ""

    @property
    def degraded(self) -> bool:
        return self.errors > 0


class DetectionPipeline:
    def __init__(
        self, detectors: Sequence[Detector[Any]], aggregation: AggregationSettings | None = None
    ) -> None:
        self.detectors = list(detectors)
        self.aggregator = AlertAggregator(aggregation)
        self.health = {d.id: DetectorHealth() for d in self.detectors}
        self._subscribers = {
            handler: [d for d in self.detectors if handler in d.subscriptions()]
            for handler in HANDLERS
        }

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        """Run subscribers on ended flows; returns the aggregated alerts that changed."""
        if len(flows):
            for d in self._subscribers["on_flow_ended"]:
                self._run(d, d.on_flow_ended, flows)
        return self.aggregator.take_changed()

    def on_content(self, facts: ContentFacts) -> list[Alert]:
        """Run subscribers on a batch's content facts; returns the changed aggregated alerts."""
        for handler, items in (
            ("on_stream_chunks", facts.stream_chunks),
            ("on_dns_seen", facts.dns),
            ("on_http_seen", facts.http),
            ("on_files_seen", facts.files),
            ("on_tls_seen", facts.tls),
            ("on_certificates_seen", facts.certificates),
            ("on_ssh_seen", facts.ssh),
        ):
            if items:
                for d in self._subscribers[handler]:
                    self._run(d, getattr(d, handler), items)
        return self.aggregator.take_changed()

    def finish(self) -> list[Alert]:
        for d in self.detectors:
            self._run(d, d.finish)
        return self.aggregator.take_changed()

    def _run(
        self, detector: Detector[Any], handler: Callable[..., list[Alert]], *args: Any
    ) -> None:
        health = self.health[detector.id]
        started = time.perf_counter()
        try:
            alerts = handler(*args)
        except Exception as exc:  # a detector bug must not stop detection
            health.errors += 1
            health.last_error = f"{type(exc).__name__}: {exc}"
            if health.errors <= 3 or health.errors % 1000 == 0:
                log.exception("detector %s failed (%d errors so far)", detector.id, health.errors)
            return
        finally:
            health.seconds += time.perf_counter() - started
        health.alerts += len(alerts)
        for alert in alerts:
            self.aggregator.add(alert)

    def stats(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for d in self.detectors:
            h = self.health[d.id]
            out[d.id] = {
                "alerts": h.alerts,
                "errors": h.errors,
                "degraded": h.degraded,
                "seconds": round(h.seconds, 3),
                **({"last_error": h.last_error} if h.last_error else {}),
                **d.stats(),
            }
        return out

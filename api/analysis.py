"""``analyze``: captures through the sensor engine and the detectors into the store.

One process does what sensors and the central service do in production: read, decode, track
flows, detect, aggregate and store. Captures that cannot be read are reported and skipped; what
was read before a corrupt record is still analysed.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.model import Alert
from alerts.stores.base import AlertStore
from api.eve import EveWriter
from cityshield.errors import CaptureError
from detectors.pipeline import DetectionPipeline
from sensors.engine import BatchResult, SensorEngine
from sensors.flows.ecs import flow_documents
from sensors.protocols.ecs import content_documents


@dataclass(slots=True)
class Progress:
    capture: str
    packets: int
    bytes: int
    read_bytes: int
    elapsed: float


@dataclass(slots=True)
class AnalysisSummary:
    captures: list[str]
    packets: int = 0
    bytes: int = 0
    decoded: int = 0
    flows: int = 0
    records: dict[str, int] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)
    weird: dict[str, int] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)
    capture_errors: list[str] = field(default_factory=list)
    capture_problems: list[str] = field(default_factory=list)
    detectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    flows_evicted: int = 0
    fragments_reassembled: int = 0
    elapsed: float = 0.0
    store: str | None = None
    #: Alert updates held back by suppressions and thresholds set through the API.
    alerts_suppressed: int = 0

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mbit_per_second(self) -> float:
        return self.bytes * 8 / 1e6 / self.elapsed if self.elapsed > 0 else 0.0

    def alerts_by_severity(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for a in self.alerts:
            counts[a.severity.value] += 1
        return dict(counts)

    def top_rules(self, n: int = 10) -> list[tuple[str, str, int, int]]:
        """(rule id, rule name, alerts, occurrences) with the most alerts first."""
        by_rule: dict[str, list[Any]] = {}
        for a in self.alerts:
            entry = by_rule.setdefault(a.rule.id, [a.rule.name, 0, 0])
            entry[1] += 1
            entry[2] += a.count
        ranked = sorted(by_rule.items(), key=lambda kv: (-kv[1][1], -kv[1][2], kv[0]))
        return [(rid, name, alerts, occ) for rid, (name, alerts, occ) in ranked[:n]]

    def as_json(self) -> dict[str, Any]:
        return {
            "captures": self.captures,
            "packets": self.packets,
            "bytes": self.bytes,
            "decoded_packets": self.decoded,
            "flows": self.flows,
            "records": self.records,
            "flows_evicted": self.flows_evicted,
            "fragments_reassembled": self.fragments_reassembled,
            "alerts": len(self.alerts),
            "alerts_by_severity": self.alerts_by_severity(),
            "top_rules": [
                {"rule_id": r, "rule_name": n, "alerts": a, "occurrences": o}
                for r, n, a, o in self.top_rules()
            ],
            "decode_problems": self.weird,
            "not_ip": self.other,
            "capture_errors": self.capture_errors,
            "capture_problems": self.capture_problems,
            "detectors": self.detectors,
            "elapsed_seconds": round(self.elapsed, 3),
            "packets_per_second": round(self.packets_per_second, 1),
            "mbit_per_second": round(self.mbit_per_second, 2),
            "store": self.store,
            "alerts_suppressed": self.alerts_suppressed,
        }


class Analysis:
    def __init__(
        self,
        engine: SensorEngine,
        pipeline: DetectionPipeline,
        store: AlertStore | None,
        *,
        eve: EveWriter | None = None,
        store_flows: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
        alert_filter: Callable[[Sequence[Alert]], list[Alert]] | None = None,
        on_stored: Callable[[Sequence[Alert]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.store = store
        self.eve = eve
        self.store_flows = store_flows and store is not None
        self.on_progress = on_progress
        #: Applied before storing: suppressions (``api.app.noise.filter.SuppressionFilter``).
        self.alert_filter = alert_filter
        #: Called with alerts once stored: response playbooks' triggers queue their runs.
        self.on_stored = on_stored
        self._suppressed = 0
        self._alerts: dict[str, Alert] = {}
        self._flows = 0
        self._records: Counter[str] = Counter()

    def run(self, captures: Sequence[str | Path]) -> AnalysisSummary:
        names = [str(c) for c in captures]
        summary = AnalysisSummary(captures=names)
        started = time.perf_counter()
        for capture in names:
            packets = size = 0
            try:
                for result in self.engine.read(capture):
                    packets += result.packets
                    size += result.bytes
                    self._handle(result)
                    if self.on_progress:
                        elapsed = time.perf_counter() - started
                        self.on_progress(
                            Progress(capture, packets, size, result.read_bytes, elapsed)
                        )
            except CaptureError as exc:
                summary.capture_errors.append(str(exc))
        self._handle(self.engine.finish())
        self._store_alerts(self.pipeline.finish())
        summary.elapsed = time.perf_counter() - started
        self._summarise(summary)
        if self.eve:
            self.eve.write_alerts(summary.alerts)
        return summary

    def _handle(self, result: BatchResult) -> None:
        flows = result.flows
        if len(flows):
            self._flows += len(flows)
            if self.store_flows or self.eve:
                docs = flow_documents(flows)
                if self.store_flows and self.store is not None:
                    self.store.add_flows(docs)
                if self.eve:
                    self.eve.write_docs(docs)
        if self.eve and result.weird:
            self.eve.write_weird(result.weird, self.engine.settings.name)
        # Content first: a detector that joins facts to their flows (SSH banners to sessions)
        # learns them before the flow ends, even when both happen in one batch.
        content = result.content
        if len(content):
            if self.store_flows or self.eve:
                for kind, docs in content_documents(content, self.engine.settings.name).items():
                    self._records[kind] += len(docs)
                    if self.store_flows and self.store is not None:
                        self.store.add_records(kind, docs)  # type: ignore[arg-type]
                    if self.eve:
                        self.eve.write_docs(docs)
            self._store_alerts(self.pipeline.on_content(content))
        self._store_alerts(self.pipeline.on_flow_ended(flows))

    def _store_alerts(self, alerts: list[Alert]) -> None:
        if alerts and self.alert_filter is not None:
            kept = self.alert_filter(alerts)
            self._suppressed += len(alerts) - len(kept)
            alerts = kept
        if not alerts:
            return
        if self.store is not None:
            self.store.upsert_alerts(alerts)
            if self.on_stored is not None:
                self.on_stored(alerts)
        for a in alerts:
            self._alerts[a.id] = a

    def _summarise(self, summary: AnalysisSummary) -> None:
        stats = self.engine.stats
        summary.packets, summary.bytes, summary.decoded = stats.packets, stats.bytes, stats.decoded
        summary.flows = self._flows
        summary.records = dict(self._records)
        summary.flows_evicted = stats.flows_evicted
        summary.fragments_reassembled = stats.fragments_reassembled
        summary.weird = dict(stats.weird.most_common())
        summary.other = dict(stats.other.most_common())
        summary.capture_problems = stats.capture_problems
        summary.detectors = self.pipeline.stats()
        summary.alerts = sorted(
            self._alerts.values(), key=lambda a: (-a.severity.rank, a.first_seen, a.id)
        )
        path = getattr(self.store, "path", None)
        summary.store = str(path) if path is not None else None
        summary.alerts_suppressed = self._suppressed

"""Captures through the sensor engine into feature rows, the way ``cityshield analyze`` feeds the
anomaly detector (a batch's content facts first, then its flows), so that training sees
exactly the features scoring will see.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from api.models.card import TrainingFile
from detectors.anomaly.extractor import ContentSeen, ExtractorSettings, FeatureExtractor
from sensors.engine import BatchResult, SensorEngine, SensorSettings
from sensors.flows import FlowBatch

F64 = npt.NDArray[np.float64]


@dataclass(slots=True)
class FlowKeys:
    """Who each row is: enough to match a labelled manifest (5-tuple and start time)."""

    transport: list[int] = field(default_factory=list)
    orig: list[str] = field(default_factory=list)
    orig_port: list[int] = field(default_factory=list)
    resp: list[str] = field(default_factory=list)
    resp_port: list[int] = field(default_factory=list)
    start_ns: list[int] = field(default_factory=list)

    def add(self, flows: FlowBatch) -> None:
        self.transport += flows.cols["proto"].tolist()
        self.orig += flows.orig_ips()
        self.orig_port += flows.orig_port.tolist()
        self.resp += flows.resp_ips()
        self.resp_port += flows.resp_port.tolist()
        self.start_ns += flows.cols["start_ns"].tolist()


@dataclass(slots=True)
class Dataset:
    rows: F64
    keys: FlowKeys
    files: list[TrainingFile]
    seen: ContentSeen


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def extract(
    captures: Sequence[Path],
    settings: ExtractorSettings,
    sensor: SensorSettings | None = None,
    *,
    keys: bool = False,
) -> Dataset:
    """Feature rows of every flow of the captures, read in order by one engine and extractor."""
    engine = SensorEngine(sensor)
    extractor = FeatureExtractor(settings)
    parts: list[F64] = []
    flow_keys = FlowKeys()
    counts: list[int] = []

    def handle(result: BatchResult) -> None:
        extractor.on_stream_chunks(result.content.stream_chunks)
        extractor.on_dns_seen(result.content.dns)
        if len(result.flows):
            parts.append(extractor.transform(result.flows))
            if keys:
                flow_keys.add(result.flows)

    for path in captures:
        before = sum(len(p) for p in parts)
        for result in engine.read(path):
            handle(result)
        counts.append(sum(len(p) for p in parts) - before)
    handle(engine.finish())
    if counts:
        counts[-1] = sum(len(p) for p in parts) - sum(counts[:-1])  # flows ended at the finish
    files = [
        TrainingFile(file=p.name, sha256=sha256_of(p), bytes=p.stat().st_size, flows=n)
        for p, n in zip(captures, counts, strict=True)
    ]
    rows = np.vstack(parts) if parts else np.zeros((0, 0))
    return Dataset(rows, flow_keys, files, extractor.seen)

"""Flows (and, where the sensor sees them, content and DNS facts) to feature rows.

One extractor serves training (``api.models``) and scoring (``AnomalyDetector``), so a feature is
computed the same way in both. It keeps per-host window state: feed it the facts in capture order.
Content facts are optional: a model records whether its training data had them, and scoring
ignores them when it did not, so a model trained before the sensor parsed DNS is not confused by
DNS features it never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detectors.anomaly.content import PayloadEntropy
from detectors.anomaly.features import FEATURES, FLOW_FEATURES, INDEX, flow_columns
from detectors.anomaly.hosts import HostWindows, HostWindowSettings
from detectors.anomaly.ports import port_classes
from sensors.events import DnsSeen, StreamChunk
from sensors.flows import FlowBatch

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ExtractorSettings:
    windows: HostWindowSettings = field(default_factory=HostWindowSettings)
    #: Use payload entropy from reassembled streams / DNS query names from DNS records.
    payload_entropy: bool = True
    dns_queries: bool = True


@dataclass(slots=True)
class ContentSeen:
    """How much optional content the features were computed with."""

    flows_with_entropy: int = 0
    dns_records: int = 0


class FeatureExtractor:
    def __init__(self, settings: ExtractorSettings | None = None) -> None:
        self.settings = s = settings or ExtractorSettings()
        self.hosts = HostWindows(s.windows)
        self.entropy = PayloadEntropy()
        self.seen = ContentSeen()

    def on_stream_chunks(self, chunks: Sequence[StreamChunk]) -> None:
        if self.settings.payload_entropy:
            self.entropy.on_chunks(chunks)

    def on_dns_seen(self, records: Sequence[DnsSeen]) -> None:
        if self.settings.dns_queries:
            self.seen.dns_records += len(records)
            self.hosts.on_dns(records)

    def transform(self, flows: FlowBatch) -> F64:
        """Feature rows of ended flows, in model space (see ``detectors.anomaly.features``)."""
        per_flow = flow_columns(flows, port_classes(flows.resp_port))
        if len(self.entropy) and len(flows):
            # Flow ids cost a hash per flow: only when some flow of this run has content.
            entropy = self.entropy.take(flows.flow_ids())
            per_flow[:, INDEX["payload_entropy"]] = entropy
            self.seen.flows_with_entropy += int((entropy >= 0).sum())
        host = self.hosts.features(flows, per_flow[:, INDEX["tcp_failed"]])
        out = np.empty((len(flows), len(FEATURES)))
        out[:, : len(FLOW_FEATURES)] = per_flow
        out[:, len(FLOW_FEATURES) :] = host
        return out

    def stats(self) -> dict[str, int]:
        return {**self.hosts.stats(), "content_flows_evicted": self.entropy.evicted}

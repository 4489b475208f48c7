"""The detector base class: an id, a typed configuration, and handlers named after the facts they
consume. Detectors do no I/O: facts in, alerts out.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from alerts.model import Alert
from sensors.events import (
    CertificateSeen,
    DnsSeen,
    FileSeen,
    HttpSeen,
    SshSeen,
    StreamChunk,
    TlsSeen,
)
from sensors.flows import FlowBatch


class DetectorConfig(BaseModel):
    """Base of every detector's configuration; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


C = TypeVar("C", bound=DetectorConfig)

#: The fact kinds a detector can subscribe to, by handler name.
HANDLERS = (
    "on_flow_ended",
    "on_stream_chunks",
    "on_dns_seen",
    "on_http_seen",
    "on_files_seen",
    "on_tls_seen",
    "on_certificates_seen",
    "on_ssh_seen",
)


class Detector(ABC, Generic[C]):
    """Subclasses set ``id`` (snake_case, unique), ``version`` and ``config_model``, and override
    the handlers of the facts they want. Handlers return the alerts they raise (possibly none).
    """

    id: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    config_model: ClassVar[type[DetectorConfig]] = DetectorConfig

    def __init__(self, config: C, *, observer: str) -> None:
        self.config = config
        self.observer = observer

    @classmethod
    def subscriptions(cls) -> frozenset[str]:
        """The handlers this detector overrides."""
        return frozenset(h for h in HANDLERS if getattr(cls, h) is not getattr(Detector, h))

    def on_flow_ended(self, flows: FlowBatch) -> list[Alert]:
        """Flows that ended (a batch of ``FlowEnded`` facts, as columns)."""
        return []

    def on_stream_chunks(self, chunks: Sequence[StreamChunk]) -> list[Alert]:
        """Reassembled TCP payload, both directions."""
        return []

    def on_dns_seen(self, records: Sequence[DnsSeen]) -> list[Alert]:
        return []

    def on_http_seen(self, records: Sequence[HttpSeen]) -> list[Alert]:
        return []

    def on_files_seen(self, files: Sequence[FileSeen]) -> list[Alert]:
        return []

    def on_tls_seen(self, records: Sequence[TlsSeen]) -> list[Alert]:
        return []

    def on_certificates_seen(self, certificates: Sequence[CertificateSeen]) -> list[Alert]:
        return []

    def on_ssh_seen(self, records: Sequence[SshSeen]) -> list[Alert]:
        return []

    def finish(self) -> list[Alert]:
        """The input is over: raise what is still pending."""
        return []

    def stats(self) -> dict[str, int]:
        """Counters worth reporting (state held, evictions...)."""
        return {}

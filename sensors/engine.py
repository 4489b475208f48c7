"""The sensor engine: capture batches through decode and flow tracking, with stats.

The same engine serves ``cityshield analyze`` (files) and live sensors (batches from libpcap);
it does no I/O of its own beyond opening the captures it is asked to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import Field

from cityshield.settings import Section
from sensors.content import ContentSettings, ContentStage
from sensors.decode import Decoder, DecodeSettings
from sensors.events import ContentFacts, SensorStats, WeirdSeen
from sensors.flows import FlowBatch, FlowSettings, FlowTable
from sensors.sources import CaptureSettings, PacketBatch, open_capture


class SensorSettings(Section):
    name: str = Field("cityshield", min_length=1, max_length=128, description="observer.name")
    capture: CaptureSettings = CaptureSettings()
    decode: DecodeSettings = DecodeSettings()
    flows: FlowSettings = FlowSettings()
    content: ContentSettings = ContentSettings()


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch of packets produced."""

    capture: str
    packets: int
    bytes: int
    flows: FlowBatch
    weird: list[WeirdSeen]
    #: Bytes of the capture stream read so far (after decompression), for progress reports.
    read_bytes: int = 0
    content: ContentFacts = field(default_factory=ContentFacts)


class SensorEngine:
    def __init__(self, settings: SensorSettings | None = None, *, seed: int | None = None) -> None:
        self.settings = s = settings or SensorSettings()
        self.decoder = Decoder(s.decode)
        self.flows = FlowTable(s.flows, observer=s.name, seed=seed)
        self.content = ContentStage(s.content)
        self._packets = 0
        self._bytes = 0
        self._decoded = 0
        self.capture_problems: list[str] = []

    def process(self, batch: PacketBatch) -> BatchResult:
        decoded = self.decoder.decode(batch)
        ended = self.flows.update(decoded, batch)
        facts = self.content.process(decoded, batch, self.flows)
        facts.extend(self.content.end(ended))
        self._packets += len(batch)
        wire = int(batch.wirelen.sum())
        self._bytes += wire
        self._decoded += len(decoded)
        weird = self.decoder.stats.take_new_samples()
        return BatchResult(batch.capture, len(batch), wire, ended, weird, content=facts)

    def read(self, path: str | Path) -> Iterator[BatchResult]:
        """Results of every batch of a capture; raises ``CaptureError`` after what could be read."""
        reader = open_capture(path, self.settings.capture)
        try:
            for batch in reader.batches():
                result = self.process(batch)
                yield replace(result, read_bytes=reader.bytes_read)
        finally:
            self.capture_problems += [f"{reader.name}: {p}" for p in reader.problems]
            reader.close()

    def finish(self) -> BatchResult:
        """End all flows (end of input)."""
        ended = self.flows.flush()
        facts = self.content.end(ended).extend(self.content.finish())
        weird = self.decoder.stats.take_new_samples()
        return BatchResult("", 0, 0, ended, weird, content=facts)

    @property
    def stats(self) -> SensorStats:
        ft = self.flows.stats
        ds = self.decoder.stats
        return SensorStats(
            packets=self._packets,
            bytes=self._bytes,
            decoded=self._decoded,
            flows_created=ft.created,
            flows_ended=ft.ended.copy(),
            flows_active=len(self.flows),
            flows_peak=ft.peak,
            flows_evicted=ft.evicted,
            weird=ds.weird.copy(),
            other=ds.other.copy(),
            fragments_reassembled=self.decoder.reassembler.reassembled,
            capture_problems=list(self.capture_problems),
        )

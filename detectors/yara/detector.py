"""``YaraDetector``: reassembled streams and decoded files in, YARA alerts out.

The detector starts without rules; the composition root compiles the configured rule packs and
hands them over with ``use_rules``, and hands over a new set the same way on reload. The swap is
one reference assignment, so a batch is scanned wholly by the old or wholly by the new rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from alerts.model import Alert
from detectors.base import Detector
from detectors.yara.alerting import file_alert, stream_alert
from detectors.yara.config import YaraConfig
from detectors.yara.engine import CompiledRules
from detectors.yara.filetype import file_externals
from detectors.yara.scanner import ContentScanner
from sensors.events import FileSeen, StreamChunk


class YaraDetector(Detector[YaraConfig]):
    id = "yara"
    version = "1"
    description = "YARA rules over reassembled TCP streams and files carried by HTTP."
    config_model = YaraConfig

    def __init__(self, config: YaraConfig, *, observer: str) -> None:
        super().__init__(config, observer=observer)
        self._scanner: ContentScanner | None = None
        self._skip = frozenset(config.skip_protocols)
        #: Asked before each batch for a new rule set (the composition root's reloader).
        self.rules_provider: Callable[[], CompiledRules | None] | None = None
        #: Rule files that did not compile when the rules were loaded (reported by the loader).
        self.rule_files_failed = 0
        self._retired: dict[str, int] = {}
        self._budget = {
            "stream_bytes_skipped": 0,
            "batch_bytes_skipped": 0,
            "reloads": 0,
        }

    @property
    def rules(self) -> CompiledRules | None:
        return self._scanner.rules if self._scanner else None

    def use_rules(self, rules: CompiledRules) -> None:
        """Scan with ``rules`` from the next batch on (the counters of the old set are kept)."""
        old = self._scanner
        if old is not None:
            for key, value in self._scan_stats(old).items():
                self._retired[key] = self._retired.get(key, 0) + value
            self._budget["reloads"] += 1
        self._scanner = ContentScanner(rules, self.config)

    def _current(self) -> ContentScanner | None:
        if self.rules_provider is not None:
            fresh = self.rules_provider()
            if fresh is not None:
                self.use_rules(fresh)
        return self._scanner

    def on_stream_chunks(self, chunks: Sequence[StreamChunk]) -> list[Alert]:
        scanner = self._current()
        if scanner is None or not self.config.scan_streams:
            return []
        alerts: list[Alert] = []
        left = self.config.max_batch_bytes
        depth = self.config.stream_depth
        engine = scanner.rules.engine
        skip = self._skip
        for chunk in chunks:
            if chunk.protocol in skip:
                continue
            data = chunk.data
            if chunk.offset + len(data) > depth:
                keep = max(depth - chunk.offset, 0)
                self._budget["stream_bytes_skipped"] += len(data) - keep
                data = data[:keep]
            if len(data) > left:
                self._budget["batch_bytes_skipped"] += len(data) - left
                data = data[:left]
            if len(data) <= chunk.overlap:
                continue  # nothing new: the overlap was scanned with the chunk before
            left -= len(data)
            outcome = scanner.scan(data, seen_before=chunk.overlap)
            for finding in outcome.findings:
                alerts.append(
                    stream_alert(
                        finding, chunk, observer=self.observer, config=self.config, engine=engine
                    )
                )
        return alerts

    def on_files_seen(self, files: Sequence[FileSeen]) -> list[Alert]:
        scanner = self._current()
        if scanner is None or not self.config.scan_files:
            return []
        alerts: list[Alert] = []
        left = self.config.max_batch_bytes
        engine = scanner.rules.engine
        for f in files:
            data = f.data
            if len(data) > left:
                self._budget["batch_bytes_skipped"] += len(data) - left
                data = data[:left]
            if not data:
                continue
            left -= len(data)
            outcome = scanner.scan(data, file_externals(f.name, data))
            for finding in outcome.findings:
                alerts.append(
                    file_alert(
                        finding, f, observer=self.observer, config=self.config, engine=engine
                    )
                )
        return alerts

    @staticmethod
    def _scan_stats(scanner: ContentScanner) -> dict[str, int]:
        c = scanner.counters
        return {
            "scans": c.scans,
            "bytes_scanned": c.bytes,
            "matches": c.matches,
            "scan_timeouts": c.timeouts,
            "scan_errors": c.errors,
            "scans_truncated": c.truncated_scans,
            "too_many_matches": scanner.too_many_matches,
            "candidates_rejected": c.candidates_rejected,
        }

    def stats(self) -> dict[str, int]:
        current = self._scan_stats(self._scanner) if self._scanner else {}
        keys = {*self._retired, *current}
        merged = {k: self._retired.get(k, 0) + current.get(k, 0) for k in keys}
        rules = self._scanner.rules.rule_count if self._scanner else 0
        return {
            **dict(sorted(merged.items())),
            **self._budget,
            "rules": rules,
            "rule_files_failed": self.rule_files_failed,
        }

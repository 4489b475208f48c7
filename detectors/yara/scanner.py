"""One buffer scanned within the budgets; validator rules confirmed; outcomes counted.

The engine-level scanner is built once per rule set (yara-x's scanner is reused across scans,
which is where its speed on small buffers comes from) and swapped whole on reload.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from detectors.yara.config import YaraConfig
from detectors.yara.engine import (
    EXTERNALS,
    CompiledRules,
    EngineScanError,
    ScanLimits,
    ScanTimeout,
)
from detectors.yara.match import RuleMatch, ScanCounters, StringHit
from detectors.yara.validator import VALIDATORS, redact

#: Redacted values kept per validated match.
SAMPLE_VALUES = 5


@dataclass(frozen=True, slots=True)
class Validation:
    """What a validator confirmed among a match's candidates (values redacted)."""

    validator: str
    valid: int
    rejected: int
    sample: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    match: RuleMatch
    validation: Validation | None = None


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    findings: tuple[Finding, ...]
    scanned: int
    truncated: bool = False
    timed_out: bool = False
    error: str | None = None


class ContentScanner:
    """Scans buffers with one compiled rule set under the configured budgets."""

    def __init__(self, rules: CompiledRules, config: YaraConfig) -> None:
        self.rules = rules
        self.config = config
        limits = ScanLimits(config.timeout_seconds, config.max_hits, config.max_hit_bytes)
        self._engine = rules.scanner(limits)
        self.counters = ScanCounters()

    @property
    def too_many_matches(self) -> int:
        return self._engine.too_many_matches

    def scan(
        self, data: bytes, externals: Mapping[str, str] = EXTERNALS, *, seen_before: int = 0
    ) -> ScanOutcome:
        """Scan ``data``; matches found only in its first ``seen_before`` bytes (the overlap with
        a chunk scanned before) are dropped, having been reported with that chunk."""
        c = self.counters
        truncated = len(data) > self.config.max_scan_bytes
        if truncated:
            data = data[: self.config.max_scan_bytes]
            c.truncated_scans += 1
        c.scans += 1
        c.bytes += len(data)
        try:
            matches = self._engine.scan(data, externals)
        except ScanTimeout:
            c.timeouts += 1
            return ScanOutcome((), len(data), truncated, timed_out=True)
        except EngineScanError as exc:
            c.errors += 1
            return ScanOutcome((), len(data), truncated, error=str(exc))
        findings: list[Finding] = []
        for m in matches:
            if seen_before and m.hits and all(h.offset + h.length <= seen_before for h in m.hits):
                continue
            finding = self._validate(m)
            if finding is not None:
                findings.append(finding)
        c.matches += len(findings)
        return ScanOutcome(tuple(findings), len(data), truncated)

    def _validate(self, m: RuleMatch) -> Finding | None:
        name = m.meta.get("validator")
        if name is None:
            return Finding(m)
        check = VALIDATORS.get(str(name))
        if check is None:
            # Unconfirmed candidates must not alert; the loader reports such rules up front.
            self.counters.candidates_rejected += len(m.hits)
            return None
        confirmed: dict[str, StringHit] = {}
        rejected = 0
        for hit in m.hits:
            value = check(hit.data.decode("latin-1"))
            if value is None:
                rejected += 1
            elif value not in confirmed:
                confirmed[value] = replace(hit, data=redact(value).encode())
        needed = _int(m.meta.get("min_valid"), 1)
        self.counters.candidates_rejected += rejected
        if len(confirmed) < needed:
            return None
        hits = tuple(confirmed.values())
        sample = tuple(h.data.decode() for h in hits[:SAMPLE_VALUES])
        validation = Validation(str(name), len(confirmed), rejected, sample)
        return Finding(replace(m, hits=hits), validation)


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return max(value, 1)
    if isinstance(value, str) and value.strip().isdigit():
        return max(int(value), 1)
    return default

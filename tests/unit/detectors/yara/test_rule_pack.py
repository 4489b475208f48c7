"""Every rule of our e-government pack matches its positive samples and none of its negatives,
with both engines, through the same scanner the detector uses (validators included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.yara.engine import EngineName
from detectors.yara.scanner import ContentScanner
from tests.unit.detectors.yara.yarakit import (
    ENGINES,
    PACK,
    SAMPLES,
    config,
    pack,
    pack_sources,
    sample_bytes,
)


def _rule_names() -> list[str]:
    result = pack("yara-python")
    return sorted(info.rule for info in result.info)


RULES = _rule_names()
CASES = [
    (rule, path)
    for rule in RULES
    for path in sorted((SAMPLES / rule).glob("*"))
    if path.name.startswith(("pos_", "neg_"))
]


def test_every_rule_has_positive_and_negative_samples() -> None:
    for rule in RULES:
        names = [p.name for p in (SAMPLES / rule).glob("*")]
        assert any(n.startswith("pos_") for n in names), f"{rule} has no positive sample"
        assert any(n.startswith("neg_") for n in names), f"{rule} has no negative sample"
    stale = {p.name for p in SAMPLES.iterdir() if p.is_dir()} - set(RULES)
    assert not stale, f"samples for rules that do not exist: {stale}"


def test_every_rule_has_the_metadata_alerts_need() -> None:
    for info in pack("yara-x").info:
        for key in ("description", "author", "severity", "category"):
            assert info.meta.get(key), f"{info.rule} lacks meta {key}"
        assert str(info.meta["severity"]) in {"low", "medium", "high", "critical"}


def test_both_engines_load_the_same_rules() -> None:
    names = {e: sorted(i.rule for i in pack(e).info) for e in ENGINES}
    assert names["yara-x"] == names["yara-python"]
    assert len(pack_sources()) == len(list(PACK.glob("*.yar")))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("rule", "sample"), CASES, ids=[f"{r}/{p.name}" for r, p in CASES])
def test_sample(engine: EngineName, rule: str, sample: Path) -> None:
    scanner = ContentScanner(pack(engine), config())
    outcome = scanner.scan(sample_bytes(sample))
    matched = {f.match.rule for f in outcome.findings}
    if sample.name.startswith("pos_"):
        assert rule in matched, f"{rule} missed {sample.name}"
    else:
        assert rule not in matched, f"{rule} fired on {sample.name}"

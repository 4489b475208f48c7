"""Both engines behind one interface: what compiles, what is reported, what a scan returns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityshield.errors import ConfigError
from detectors.yara.engine import EXTERNALS, EngineName, ScanLimits, engine_named
from detectors.yara.match import RuleSource
from tests.unit.detectors.yara.yarakit import ENGINES

LIMITS = ScanLimits(timeout_seconds=5, max_hits=3, max_hit_bytes=4)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_file_loads_whole_or_not_at_all(engine: EngineName) -> None:
    text = "rule Fine { condition: true }\nrule Bad { condition: x }"
    half = RuleSource("half.yar", "half.yar", text)
    good = RuleSource("good.yar", "good.yar", "rule Good { condition: true }")
    result = engine_named(engine).compile([half, good])
    assert result.rules is not None
    assert [i.rule for i in result.rules.info] == ["Good"]  # not "Fine" from the broken file
    assert [(p.origin, p.line) for p in result.problems] == [("half.yar", 2)]
    assert result.loaded == ("good.yar",)


@pytest.mark.parametrize("engine", ENGINES)
def test_hits_are_bounded_in_number_and_bytes_and_metadata_is_typed(engine: EngineName) -> None:
    text = (
        'rule R : web shell { meta: score = 80 ok = true ratio = "x" '
        'strings: $a = "abcdef" condition: $a }'
    )
    rules = engine_named(engine).compile([RuleSource("r.yar", "r.yar", text)]).rules
    assert rules is not None
    (m,) = rules.scanner(LIMITS).scan(b"abcdef-" * 10, EXTERNALS)
    assert m.rule == "R" and m.tags == ("web", "shell")
    assert m.meta == {"score": 80, "ok": True, "ratio": "x"}
    assert [(h.offset, h.length, h.data) for h in m.hits] == [(0, 6, b"abcd"), (7, 6, b"abcd"),
                                                             (14, 6, b"abcd")]  # fmt: skip
    assert m.hits_truncated


@pytest.mark.parametrize("engine", ENGINES)
def test_externals_change_per_scan(engine: EngineName) -> None:
    text = 'rule Php { condition: extension == ".php" }'
    rules = engine_named(engine).compile([RuleSource("r.yar", "r.yar", text)]).rules
    assert rules is not None
    scanner = rules.scanner(LIMITS)
    assert scanner.scan(b"x", {**EXTERNALS, "extension": ".php"})
    assert not scanner.scan(b"x", EXTERNALS)
    assert scanner.scan(b"x", {**EXTERNALS, "extension": ".php"})


def test_an_unknown_engine_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown YARA engine 'clamav'"):
        engine_named("clamav")


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300))
def test_any_text_as_a_rule_file_is_reported_never_raised(text: str) -> None:
    for engine in ENGINES:
        result = engine_named(engine).compile([RuleSource("fuzz.yar", "fuzz.yar", text)])
        # Either it compiled (maybe to no rule at all) or the file is named in a problem.
        assert result.rules is not None or result.problems
        for problem in result.problems:
            assert problem.origin == "fuzz.yar" and problem.message

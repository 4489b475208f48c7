"""The yara-x engine (VirusTotal's Rust successor to libyara), the default: see ``config``.

yara-x keeps compiling after an error and names the file of every error, so one pass finds the
files at fault; a second builds the pack without them, so that a file loads whole or not at all.
Regular expressions are compiled with ``relaxed_re_syntax``: published rule sets rely on libyara
accepting unescaped braces and unknown escapes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import yara_x

from detectors.yara.engine import (
    EXTERNALS,
    CompileResult,
    EngineName,
    EngineScanError,
    ScanLimits,
    ScanTimeout,
)
from detectors.yara.match import (
    MetaValue,
    RuleInfo,
    RuleMatch,
    RuleProblem,
    RuleSource,
    StringHit,
    meta_value,
)


def _compiler(externals: Mapping[str, str]) -> yara_x.Compiler:
    compiler = yara_x.Compiler(relaxed_re_syntax=True, includes_enabled=False)
    for name, value in externals.items():
        compiler.define_global(name, value)
    return compiler


def _add(compiler: yara_x.Compiler, sources: Sequence[RuleSource]) -> None:
    for s in sources:
        compiler.new_namespace(s.namespace)
        # A failure is recorded in compiler.errors(), with the file and line.
        with contextlib.suppress(yara_x.CompileError):
            compiler.add_source(s.text, origin=s.origin)


def _problems(errors: Any, by_origin: Mapping[str, RuleSource]) -> dict[str, RuleProblem]:
    """The first error of each failing file, keyed by its origin."""
    found: dict[str, RuleProblem] = {}
    for error in errors:
        labels = error.get("labels") or [{}]
        origin = str(labels[0].get("code_origin") or "")
        if origin not in by_origin:
            origin = "(rule pack)"
        if origin not in found:
            line = labels[0].get("line", error.get("line"))
            message = f"{error.get('title', 'compile error')} [{error.get('code', '')}]"
            found[origin] = RuleProblem(origin, int(line) if line else None, message)
    return found


class YaraXEngine:
    name: EngineName = "yara-x"

    def compile(
        self, sources: Sequence[RuleSource], externals: Mapping[str, str] = EXTERNALS
    ) -> CompileResult:
        if not sources:
            return CompileResult(None, (), ())
        by_origin = {s.origin: s for s in sources}
        compiler = _compiler(externals)
        _add(compiler, sources)
        problems = _problems(compiler.errors(), by_origin)
        if not problems:
            rules = compiler.build()
        else:
            good = [s for s in sources if s.origin not in problems]
            if not good or "(rule pack)" in problems:
                return CompileResult(None, tuple(problems.values()), ())
            compiler = _compiler(externals)
            _add(compiler, good)
            again = _problems(compiler.errors(), by_origin)
            if again:
                # Each failing file was left out; what remains should compile. If not, say so.
                return CompileResult(None, (*problems.values(), *again.values()), ())
            rules = compiler.build()
        loaded = tuple(s.origin for s in sources if s.origin not in problems)
        info = tuple(
            RuleInfo(r.namespace, r.identifier, tuple(r.tags), _meta(r.metadata)) for r in rules
        )
        return CompileResult(_Rules(rules, info), tuple(problems.values()), loaded)


class _Rules:
    engine: EngineName = "yara-x"

    def __init__(self, rules: yara_x.Rules, info: tuple[RuleInfo, ...]) -> None:
        self._rules = rules
        self.info = info

    @property
    def rule_count(self) -> int:
        return len(self.info)

    def scanner(self, limits: ScanLimits) -> _Scanner:
        return _Scanner(self._rules, limits)


class _Scanner:
    def __init__(self, rules: yara_x.Rules, limits: ScanLimits) -> None:
        self._scanner = yara_x.Scanner(rules)
        self._scanner.set_timeout(limits.timeout_seconds)
        # One more than kept, so that a truncated list can be told from a complete one.
        self._scanner.max_matches_per_pattern(limits.max_hits + 1)
        self._limits = limits
        self._externals: dict[str, str] = dict(EXTERNALS)
        self.too_many_matches = 0  # yara-x stops silently at max_matches_per_pattern

    def scan(self, data: bytes, externals: Mapping[str, str]) -> list[RuleMatch]:
        for name, value in externals.items():
            # Setting a global costs a call into the engine; most scans (streams) keep them.
            if self._externals.get(name) != value:
                self._scanner.set_global(name, value)
                self._externals[name] = value
        try:
            results = self._scanner.scan(data)
        except yara_x.TimeoutError as exc:
            raise ScanTimeout(str(exc)) from None
        except yara_x.ScanError as exc:
            raise EngineScanError(str(exc)) from None
        return [self._convert(rule, data) for rule in results.matching_rules]

    def _convert(self, rule: yara_x.Rule, data: bytes) -> RuleMatch:
        limit, width = self._limits.max_hits, self._limits.max_hit_bytes
        hits: list[StringHit] = []
        total = 0
        for pattern in rule.patterns:
            for m in pattern.matches:
                total += 1
                if len(hits) < limit:
                    kept = data[m.offset : m.offset + min(m.length, width)]
                    hits.append(StringHit(pattern.identifier, m.offset, m.length, kept))
        hits.sort(key=lambda h: (h.offset, h.identifier))
        return RuleMatch(
            rule=rule.identifier,
            namespace=rule.namespace,
            tags=tuple(rule.tags),
            meta=_meta(rule.metadata),
            hits=tuple(hits),
            hits_truncated=total > limit,
        )


def _meta(pairs: tuple[tuple[str, Any], ...]) -> dict[str, MetaValue]:
    # The last of repeated keys wins, as in libyara.
    return {str(key): meta_value(value) for key, value in pairs}

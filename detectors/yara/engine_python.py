"""The yara-python engine (libyara 4.x), the reference implementation of the YARA language.

libyara stops at the first error of a compilation and its message does not name the source, so a
pack that fails as a whole is compiled file by file to find the files at fault, then once more
without them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yara

from detectors.yara.engine import (
    EXTERNALS,
    CompileResult,
    EngineName,
    EngineScanError,
    ScanLimits,
    ScanTimeout,
)
from detectors.yara.match import (
    RuleInfo,
    RuleMatch,
    RuleProblem,
    RuleSource,
    StringHit,
    meta_value,
)

_LINE = re.compile(r"^line (\d+): (.*)$", re.DOTALL)


def _problem(origin: str, exc: Exception) -> RuleProblem:
    text = str(exc)
    found = _LINE.match(text)
    if found:
        return RuleProblem(origin, int(found.group(1)), found.group(2))
    return RuleProblem(origin, None, text or type(exc).__name__)


def _compile(sources: Mapping[str, str], externals: Mapping[str, str]) -> Any:
    return yara.compile(sources=dict(sources), externals=dict(externals), includes=False)


class YaraPythonEngine:
    name: EngineName = "yara-python"

    def compile(
        self, sources: Sequence[RuleSource], externals: Mapping[str, str] = EXTERNALS
    ) -> CompileResult:
        texts = {s.namespace: s.text for s in sources}
        problems: list[RuleProblem] = []
        good = list(sources)
        if not good:
            return CompileResult(None, (), ())
        try:
            rules = _compile(texts, externals)
        except (yara.SyntaxError, yara.Error):
            good = []
            for s in sources:
                try:
                    _compile({s.namespace: s.text}, externals)
                except (yara.SyntaxError, yara.Error) as exc:
                    problems.append(_problem(s.origin, exc))
                else:
                    good.append(s)
            if not good:
                return CompileResult(None, tuple(problems), ())
            try:
                rules = _compile({s.namespace: s.text for s in good}, externals)
            except (yara.SyntaxError, yara.Error) as exc:  # each compiles alone, not together
                problems.append(RuleProblem("(rule pack)", None, f"files do not combine: {exc}"))
                return CompileResult(None, tuple(problems), ())
        info = tuple(
            RuleInfo("", r.identifier, tuple(r.tags), {k: meta_value(v) for k, v in r.meta.items()})
            for r in rules
        )
        compiled = _Rules(rules, info)
        return CompileResult(compiled, tuple(problems), tuple(s.origin for s in good))


class _Rules:
    engine: EngineName = "yara-python"

    def __init__(self, rules: Any, info: tuple[RuleInfo, ...]) -> None:
        self._rules = rules
        self.info = info

    @property
    def rule_count(self) -> int:
        return len(self.info)

    def scanner(self, limits: ScanLimits) -> _Scanner:
        return _Scanner(self._rules, limits)


class _Scanner:
    def __init__(self, rules: Any, limits: ScanLimits) -> None:
        self._rules = rules
        self._limits = limits
        self.too_many_matches = 0

    def _on_warning(self, kind: int, _detail: Any) -> int:
        # libyara stops recording a string after too many occurrences; yara-python would turn
        # that into a RuntimeWarning per scan. Counted here instead.
        if kind == yara.CALLBACK_TOO_MANY_MATCHES:
            self.too_many_matches += 1
        return int(yara.CALLBACK_CONTINUE)

    def scan(self, data: bytes, externals: Mapping[str, str]) -> list[RuleMatch]:
        try:
            found = self._rules.match(
                data=data,
                externals=dict(externals),
                timeout=self._limits.timeout_seconds,
                warnings_callback=self._on_warning,
            )
        except yara.TimeoutError as exc:
            raise ScanTimeout(str(exc)) from None
        except yara.Error as exc:
            raise EngineScanError(str(exc)) from None
        return [self._convert(m) for m in found]

    def _convert(self, m: Any) -> RuleMatch:
        limit, width = self._limits.max_hits, self._limits.max_hit_bytes
        hits: list[StringHit] = []
        total = 0
        for string in m.strings:
            for inst in string.instances:
                total += 1
                if len(hits) < limit:
                    hits.append(
                        StringHit(
                            string.identifier,
                            inst.offset,
                            inst.matched_length,
                            bytes(inst.matched_data[:width]),
                        )
                    )
        hits.sort(key=lambda h: (h.offset, h.identifier))
        return RuleMatch(
            rule=m.rule,
            namespace=m.namespace,
            tags=tuple(m.tags),
            meta={str(k): meta_value(v) for k, v in m.meta.items()},
            hits=tuple(hits),
            hits_truncated=total > limit,
        )

"""The engine interface: compile rule sources, scan buffers. Two engines implement it.

yara-x (the successor engine, in Rust) and yara-python (libyara) differ in speed, in a few
syntax details and in the modules they offer; ``detectors.yara.config`` says which is the default
and why. Both compile with includes disabled: a rule file must not read other files (rule files are
attacker-controlled input like everything else).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cityshield.errors import ConfigError
from detectors.yara.match import RuleInfo, RuleMatch, RuleProblem, RuleSource

EngineName = Literal["yara-x", "yara-python"]
ENGINES: tuple[EngineName, ...] = ("yara-x", "yara-python")

#: External variables real rule sets expect (signature-base's LOKI scanner sets these), declared
#: with empty defaults at compile time and set per scan. Streams have no file name: all empty.
EXTERNALS: Mapping[str, str] = {
    "filename": "",
    "filepath": "",
    "extension": "",
    "filetype": "",
    "owner": "",
}


class ScanTimeout(Exception):
    """The engine gave up on a buffer at the time budget."""


class EngineScanError(Exception):
    """The engine failed on a buffer for another reason (counted, never fatal)."""


@dataclass(frozen=True, slots=True)
class ScanLimits:
    timeout_seconds: int
    #: Occurrences kept per match (all strings together).
    max_hits: int
    #: Bytes of each occurrence kept.
    max_hit_bytes: int


class EngineScanner(Protocol):
    """Scans buffers with one compiled rule set; not thread-safe (one per worker)."""

    #: Times the engine reported a string with too many occurrences (it stops recording them).
    too_many_matches: int

    def scan(self, data: bytes, externals: Mapping[str, str]) -> list[RuleMatch]:
        """The matching rules; raises ``ScanTimeout`` or ``EngineScanError``."""
        ...


class CompiledRules(Protocol):
    engine: EngineName
    #: The rules the set holds.
    info: tuple[RuleInfo, ...]

    @property
    def rule_count(self) -> int: ...

    def scanner(self, limits: ScanLimits) -> EngineScanner: ...


@dataclass(frozen=True, slots=True)
class CompileResult:
    """The rules of every file that compiled (None: none did), a problem per file that did not,
    and the origins of the files loaded."""

    rules: CompiledRules | None
    problems: tuple[RuleProblem, ...]
    loaded: tuple[str, ...]


class YaraEngine(Protocol):
    name: EngineName

    def compile(
        self, sources: Sequence[RuleSource], externals: Mapping[str, str] = EXTERNALS
    ) -> CompileResult:
        """Compile every source into one rule set, one namespace each. A source that does not
        compile is left out, with a problem naming its file and line; the others load."""
        ...


def engine_named(name: str) -> YaraEngine:
    """The engine called ``name`` (imported only when chosen)."""
    if name == "yara-x":
        from detectors.yara.engine_x import YaraXEngine

        return YaraXEngine()
    if name == "yara-python":
        from detectors.yara.engine_python import YaraPythonEngine

        return YaraPythonEngine()
    raise ConfigError(
        f"unknown YARA engine {name!r}; use one of {', '.join(ENGINES)}", where="detectors.yara"
    )

"""What a scan returns, independent of the engine that ran it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: A rule's metadata value as both engines report it.
MetaValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class StringHit:
    """One occurrence of one of a rule's strings: where, how long, and its first bytes."""

    identifier: str
    offset: int
    length: int
    data: bytes


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule that matched a buffer, with its (bounded) string occurrences in offset order."""

    rule: str
    namespace: str
    tags: tuple[str, ...]
    meta: dict[str, MetaValue]
    hits: tuple[StringHit, ...]
    #: More occurrences existed than the scan keeps (``max_hits``).
    hits_truncated: bool = False

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}:{self.rule}"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """A compiled rule's name and metadata (yara-python does not say its namespace: "")."""

    namespace: str
    rule: str
    tags: tuple[str, ...]
    meta: dict[str, MetaValue]


@dataclass(frozen=True, slots=True)
class RuleSource:
    """One rule file's text, with the namespace its rules get and where it came from."""

    namespace: str
    origin: str
    text: str


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A rule file that did not compile (or a warning about one): file, line, message."""

    origin: str
    line: int | None
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.line is not None else self.origin
        return f"{where}: {self.message}"


@dataclass(slots=True)
class ScanCounters:
    """What scans did, for detector stats: budgets hit are counted, never raised."""

    scans: int = 0
    bytes: int = 0
    matches: int = 0
    timeouts: int = 0
    errors: int = 0
    too_many_matches: int = 0
    truncated_scans: int = 0
    candidates_rejected: int = 0


def meta_value(value: Any) -> MetaValue:
    """A metadata value as text, number or flag, whatever the engine handed over."""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)

"""YARA rule packs from disk: find the rule files, read them within limits, compile, reload.

This is the I/O half of the YARA detector (``detectors.yara`` compiles text and scans bytes). One
namespace per file, named by its path relative to its folder. A file that does not compile is
reported with file and line and every other file still loads. ``RulePack.poll`` reloads when a
file changed; a reload that breaks a file that compiled before keeps the old rules running.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cityshield.errors import ConfigError
from detectors.base import Detector
from detectors.yara.config import YaraConfig
from detectors.yara.detector import YaraDetector
from detectors.yara.engine import CompiledRules, YaraEngine, engine_named
from detectors.yara.match import RuleProblem, RuleSource
from detectors.yara.validator import VALIDATORS

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yar", ".yara")
#: A rule file larger than this is refused (the largest in signature-base is under 1 MiB).
MAX_RULE_FILE_BYTES = 8 << 20
#: Rule files read from all folders together at most.
MAX_RULE_FILES = 20_000

#: (path, mtime in ns, size) of every rule file: a change in any of them means reload.
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class RulePackLoad:
    """One compilation of the configured folders."""

    rules: CompiledRules | None
    problems: tuple[RuleProblem, ...]
    files: tuple[str, ...]
    loaded: tuple[str, ...]
    fingerprint: Fingerprint

    @property
    def failed(self) -> frozenset[str]:
        return frozenset(p.origin for p in self.problems if p.fatal)


def discover(dirs: Sequence[Path]) -> tuple[list[tuple[Path, Path]], list[RuleProblem]]:
    """Rule files under ``dirs`` as (folder, file), sorted; hidden entries and special files are
    skipped, symbolic links to folders are not followed (no loops)."""
    found: list[tuple[Path, Path]] = []
    problems: list[RuleProblem] = []
    for root in dirs:
        if not root.is_dir():
            raise ConfigError("YARA rule folder not found", where=str(root))
        for here, subdirs, names in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(names):
                path = Path(here) / name
                if name.startswith(".") or not name.lower().endswith(RULE_SUFFIXES):
                    continue
                if not path.is_file():
                    problems.append(RuleProblem(str(path), None, "not a regular file", fatal=False))
                    continue
                found.append((root, path))
                if len(found) > MAX_RULE_FILES:
                    raise ConfigError(f"more than {MAX_RULE_FILES} rule files", where=str(root))
    return found, problems


def _namespace(root: Path, path: Path, taken: set[str]) -> str:
    name = path.relative_to(root).as_posix()
    if name in taken:
        name = f"{root.name}/{name}"
    while name in taken:
        name = f"_/{name}"
    taken.add(name)
    return name


def read_sources(
    files: Sequence[tuple[Path, Path]],
) -> tuple[list[RuleSource], list[RuleProblem], Fingerprint]:
    sources: list[RuleSource] = []
    problems: list[RuleProblem] = []
    prints: list[tuple[str, int, int]] = []
    taken: set[str] = set()
    for root, path in files:
        origin = str(path)
        try:
            st = path.stat()
            prints.append((origin, st.st_mtime_ns, st.st_size))
            if st.st_size > MAX_RULE_FILE_BYTES:
                problems.append(
                    RuleProblem(origin, None, f"larger than {MAX_RULE_FILE_BYTES} bytes: not read")
                )
                continue
            raw = path.read_bytes()[: MAX_RULE_FILE_BYTES + 1]
        except OSError as exc:
            problems.append(RuleProblem(origin, None, f"cannot read: {exc.strerror or exc}"))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Both engines take rule text as Unicode; bytes that are not UTF-8 become U+FFFD, so a
            # string literal holding them will not match as its author meant.
            line = raw[: exc.start].count(b"\n") + 1
            problems.append(
                RuleProblem(origin, line, "not UTF-8: read with replacement characters", False)
            )
            text = raw.decode("utf-8", "replace")
        sources.append(RuleSource(_namespace(root, path, taken), origin, text))
    return sources, problems, tuple(prints)


def load_rule_pack(dirs: Sequence[Path], engine: YaraEngine) -> RulePackLoad:
    """Compile every rule file under ``dirs`` with ``engine``; problems are reported, not raised
    (a missing folder is a ``ConfigError``)."""
    files, problems = discover(dirs)
    sources, read_problems, fingerprint = read_sources(files)
    result = engine.compile(sources)
    all_problems = [*problems, *read_problems, *result.problems]
    if result.rules is not None:
        for info in result.rules.info:
            wanted = info.meta.get("validator")
            if wanted is not None and str(wanted) not in VALIDATORS:
                all_problems.append(
                    RuleProblem(
                        info.namespace or "(rule pack)",
                        None,
                        f"rule {info.rule} asks for unknown validator {wanted!r} "
                        f"(known: {', '.join(sorted(VALIDATORS))}); it will never alert",
                        fatal=False,
                    )
                )
    return RulePackLoad(
        result.rules,
        tuple(all_problems),
        tuple(str(p) for _, p in files),
        result.loaded,
        fingerprint,
    )


def fingerprint_of(dirs: Sequence[Path]) -> Fingerprint:
    files, _ = discover(dirs)
    prints = []
    for _, path in files:
        try:
            st = path.stat()
        except OSError:
            continue
        prints.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(prints)


@dataclass(slots=True)
class ReloadOutcome:
    applied: bool
    problems: tuple[RuleProblem, ...]
    reason: str = ""


@dataclass(slots=True)
class RulePack:
    """The running rule set of the configured folders, and its reloads."""

    dirs: tuple[Path, ...]
    engine: YaraEngine
    interval: float = 5.0
    clock: Callable[[], float] = time.monotonic
    current: RulePackLoad | None = None
    reloads: int = 0
    refused: int = 0
    _pending: CompiledRules | None = None
    _checked: float = field(default=float("-inf"))

    @classmethod
    def open(cls, dirs: Sequence[Path], engine_name: str, interval: float = 5.0) -> RulePack:
        pack = cls(tuple(dirs), engine_named(engine_name), interval)
        pack.current = load_rule_pack(pack.dirs, pack.engine)
        pack._checked = pack.clock()
        for problem in pack.current.problems:
            log.warning("YARA rule file %s", problem)
        return pack

    def reload(self) -> ReloadOutcome:
        """Compile the folders again. The new rules replace the running ones unless a file that
        compiled before fails now (or nothing compiles): then the old rules keep running."""
        new = load_rule_pack(self.dirs, self.engine)
        old = self.current
        newly_broken = new.failed - (old.failed if old else frozenset())
        if newly_broken:
            names = ", ".join(sorted(newly_broken))
            reason = f"{len(newly_broken)} file(s) that compiled before fail now: {names}"
        elif new.rules is None and old is not None and old.rules is not None:
            reason = "no rule compiles any more"
        else:
            self.current = new
            self._pending = new.rules
            self.reloads += 1
            log.info("YARA rules reloaded: %d files", len(new.loaded))
            return ReloadOutcome(True, new.problems)
        self.refused += 1
        if old is not None:
            # Remember the broken state so that the same broken files do not reload every poll.
            self.current = RulePackLoad(
                old.rules, old.problems, old.files, old.loaded, new.fingerprint
            )
        log.warning("YARA reload refused, the old rules keep running: %s", reason)
        for problem in new.problems:
            log.warning("YARA rule file %s", problem)
        return ReloadOutcome(False, new.problems, reason)

    def poll(self) -> CompiledRules | None:
        """New rules for the detector, if the files changed and compile (``interval`` apart)."""
        if self._pending is None and self.interval > 0:
            now = self.clock()
            if now - self._checked >= self.interval:
                self._checked = now
                seen = self.current.fingerprint if self.current else ()
                if fingerprint_of(self.dirs) != seen:
                    self.reload()
        fresh, self._pending = self._pending, None
        return fresh


def rule_dirs(config: YaraConfig, rules_dir: Path) -> list[Path]:
    """The configured folders, or ``<rules_dir>/yara`` when there is one."""
    if config.rule_dirs:
        return list(config.rule_dirs)
    default = rules_dir / "yara"
    return [default] if default.is_dir() else []


def attach_rules(detectors: Sequence[Detector[Any]], rules_dir: Path) -> list[RulePack]:
    """Compile the rule packs of every YARA detector and keep them reloading."""
    packs: list[RulePack] = []
    for d in detectors:
        if not isinstance(d, YaraDetector):
            continue
        dirs = rule_dirs(d.config, rules_dir)
        if not dirs:
            log.info("no YARA rule folder (%s/yara): the YARA detector has no rules", rules_dir)
            continue
        pack = RulePack.open(dirs, d.config.engine, d.config.reload_interval_seconds)
        if pack.current is not None and pack.current.rules is not None:
            d.use_rules(pack.current.rules)
            d.rule_files_failed = len(pack.current.failed)
        d.rules_provider = pack.poll
        packs.append(pack)
    return packs

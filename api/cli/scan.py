"""``cityshield scan PATH...``: YARA rule packs over files and folders, without a capture.

Exit status, as antivirus scanners report it (clamscan): 0 nothing matched, 1 something matched,
2 nothing matched but something went wrong (a path that cannot be read, a rule file that does not
compile, bad settings). Matches win over problems: a scan that finds a webshell says 1 even if
another file could not be read, and lists that file.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import ConfigOpt, JsonOpt, err, load, out
from api.composition import rules_path
from api.yara_rules import load_rule_pack, rule_dirs
from cityshield.errors import CityShieldError
from detectors.yara.alerting import escape as escape_bytes
from detectors.yara.alerting import severity_of
from detectors.yara.config import YaraConfig
from detectors.yara.engine import ENGINES, engine_named
from detectors.yara.filetype import file_externals
from detectors.yara.scanner import ContentScanner, Finding

EXIT_CLEAN, EXIT_FOUND, EXIT_PROBLEM = 0, 1, 2


@dataclass(slots=True)
class ScanReport:
    files: int = 0
    bytes: int = 0
    matches: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    rule_problems: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    rules: int = 0
    engine: str = ""

    def exit_code(self) -> int:
        if self.matches:
            return EXIT_FOUND
        return EXIT_PROBLEM if self.problems or self.rule_problems else EXIT_CLEAN

    def as_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "rules": self.rules,
            "files_scanned": self.files,
            "bytes_scanned": self.bytes,
            "matches": self.matches,
            "problems": self.problems,
            "rule_problems": self.rule_problems,
            "truncated": self.truncated,
        }


def walk(paths: list[Path], report: ScanReport) -> Iterator[Path]:
    """Regular files named or under the folders named; links to folders are not followed (no
    loops), special files (FIFOs, devices, sockets) are skipped: reading one could block."""
    for top in paths:
        try:
            mode = top.stat().st_mode
        except OSError as exc:
            report.problems.append(f"{top}: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(mode):
            for here, dirs, names in os.walk(top, onerror=lambda e: report.problems.append(
                f"{e.filename}: {e.strerror}"
            )):  # fmt: skip
                dirs.sort()
                for name in sorted(names):
                    path = Path(here) / name
                    try:
                        if stat.S_ISREG(path.stat().st_mode):
                            yield path
                    except OSError as exc:
                        report.problems.append(f"{path}: {exc.strerror or exc}")
        elif stat.S_ISREG(mode):
            yield top
        else:
            report.problems.append(f"{top}: not a regular file or folder: skipped")


def _match_json(path: Path, finding: Finding, config: YaraConfig) -> dict[str, Any]:
    m = finding.match
    doc: dict[str, Any] = {
        "path": str(path),
        "rule": m.rule,
        "namespace": m.namespace,
        "severity": severity_of(m.meta).value,
        "description": str(m.meta.get("description", "")),
        "tags": list(m.tags),
        "meta": dict(m.meta),
        "strings": [
            {
                "id": h.identifier,
                "offset": h.offset,
                "length": h.length,
                "data": escape_bytes(h.data[: config.alert_string_bytes]),
            }
            for h in m.hits[: config.alert_strings]
        ],
    }
    if finding.validation is not None:
        v = finding.validation
        doc["validation"] = {"validator": v.validator, "valid": v.valid, "sample": list(v.sample)}
    return doc


def run_scan(paths: list[Path], dirs: list[Path], config: YaraConfig, max_size: int) -> ScanReport:
    report = ScanReport(engine=config.engine)
    loaded = load_rule_pack(dirs, engine_named(config.engine))
    report.rule_problems = [str(p) for p in loaded.problems]
    if loaded.rules is None:
        report.problems.append("no rule compiled: nothing to scan with")
        return report
    report.rules = loaded.rules.rule_count
    scanner = ContentScanner(loaded.rules, config.model_copy(update={"max_scan_bytes": max_size}))
    for path in walk(paths, report):
        try:
            with path.open("rb") as fh:
                data = fh.read(max_size + 1)
        except OSError as exc:
            report.problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if len(data) > max_size:
            report.truncated.append(str(path))
        outcome = scanner.scan(data[:max_size], file_externals(path.name, data, path=str(path)))
        report.files += 1
        report.bytes += outcome.scanned
        if outcome.timed_out:
            report.problems.append(f"{path}: scan stopped at the time budget")
        elif outcome.error:
            report.problems.append(f"{path}: {outcome.error}")
        report.matches.extend(_match_json(path, f, config) for f in outcome.findings)
    return report


def _print(report: ScanReport) -> None:
    if report.matches:
        table = Table(title="YARA matches", title_justify="left")
        for col in ("severity", "file", "rule", "strings"):
            table.add_column(col, overflow="fold")
        for m in report.matches:
            strings = ", ".join(f"{s['id']}@{s['offset']}" for s in m["strings"][:4])
            table.add_row(m["severity"], escape(m["path"]), escape(m["rule"]), escape(strings))
        out.print(table)
    out.print(
        f"Scanned {report.files:,} files ({report.bytes / 1e6:,.1f} MB) with "
        f"{report.rules:,} rules ({report.engine}): [bold]{len(report.matches)}[/] matches"
    )


def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders (searched recursively).")],
    rules: Annotated[
        list[Path] | None,
        typer.Option(
            "--rules", "-r", help="Rule folder (repeatable). Default: settings, rules/yara."
        ),
    ] = None,
    engine: Annotated[
        str | None, typer.Option("--engine", help=f"YARA engine: {', '.join(ENGINES)}.")
    ] = None,
    max_size: Annotated[
        int | None,
        typer.Option("--max-size", min=1, help="Bytes of each file scanned (its start)."),
    ] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Scan files and folders with YARA rules. Exit 0: clean, 1: matches, 2: problems only."""
    try:
        settings = load(config)
        changes: dict[str, Any] = {"engine": engine} if engine else {}
        yara = YaraConfig.model_validate({**settings.detectors.yara.model_dump(), **changes})
        dirs = list(rules) if rules else rule_dirs(yara, rules_path(settings))
        if not dirs:
            raise CityShieldError("no rule folder: pass --rules DIR")
        report = run_scan(paths, dirs, yara, max_size or yara.max_scan_bytes)
    except (CityShieldError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_PROBLEM) from None
    if json_out:
        out.print_json(json.dumps(report.as_json()))
    else:
        _print(report)
    for problem in report.rule_problems:
        err.print(f"[yellow]rule file problem:[/] {escape(problem)}")
    for problem in report.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    for path in report.truncated:
        err.print(f"[yellow]note:[/] {escape(path)}: larger than --max-size, its start was scanned")
    raise typer.Exit(report.exit_code())

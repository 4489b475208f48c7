"""Validate playbooks and report every problem at once, each with file, line and step.

Checks, in the manner of pySigma's validators: YAML that parses within budgets, the schema
(pydantic), known action ids, parameters each action accepts (names always; values when they
hold no template), templates that are paths from known roots, ``inputs.X`` that are declared and
``steps.X`` that come earlier, playbook ids unique across a folder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from response import template, yamlfile
from response.actions.base import Action
from response.schema import Playbook

#: Most playbook files read from one folder.
MAX_FILES = 500


@dataclass(frozen=True)
class PlaybookIssue:
    file: str
    line: int | None
    step: str | None
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {'step ' + self.step + ': ' if self.step else ''}{self.message}"


@dataclass(frozen=True)
class LoadedPlaybook:
    playbook: Playbook
    path: Path


class _Collector:
    def __init__(self, file: str, doc: yamlfile.LinedYaml | None) -> None:
        self.file = file
        self.doc = doc
        self.issues: list[PlaybookIssue] = []

    def step_name(self, path: tuple[str | int, ...]) -> str | None:
        if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int) and self.doc:
            steps = self.doc.data.get("steps") if isinstance(self.doc.data, dict) else None
            if isinstance(steps, list) and path[1] < len(steps):
                step = steps[path[1]]
                if isinstance(step, dict) and isinstance(step.get("id"), str):
                    return str(step["id"])
            return f"#{path[1] + 1}"
        return None

    def add(self, path: tuple[str | int, ...], message: str) -> None:
        line = self.doc.line(path) if self.doc else None
        issue = PlaybookIssue(self.file, line, self.step_name(path), message)
        if issue not in self.issues:
            self.issues.append(issue)


def validate_text(
    text: str, file: str, actions: Mapping[str, type[Action]]
) -> tuple[Playbook | None, list[PlaybookIssue]]:
    try:
        doc = yamlfile.load(text)
    except yamlfile.YamlProblem as exc:
        return None, [PlaybookIssue(file, exc.line, None, exc.message)]
    found = _Collector(file, doc)
    data = doc.data
    if not isinstance(data, dict):
        found.add((), "a playbook is a mapping (id, name, steps, ...)")
        return None, found.issues
    playbook: Playbook | None = None
    try:
        playbook = Playbook.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            found.add(loc, _message(error))
    _check_steps(data, actions, found)
    return (playbook if not found.issues else None), found.issues


def _message(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not isinstance(p, int))
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"unknown key {error['loc'][-1]!r}"
    return f"{loc}: {msg}" if loc else msg


def _check_steps(
    data: dict[str, Any], actions: Mapping[str, type[Action]], found: _Collector
) -> None:
    inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    steps = data.get("steps")
    if not isinstance(steps, list):
        return
    earlier: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        here: tuple[str | int, ...] = ("steps", i)
        for key in ("with", "when", "foreach"):
            if key in step:
                for problem in template.check(step[key]):
                    found.add((*here, key), problem)
                _check_refs(step[key], (*here, key), inputs or {}, earlier, found)
        approval = step.get("approval")
        if isinstance(approval, dict) and "reason" in approval:
            for problem in template.check(approval["reason"]):
                found.add((*here, "approval", "reason"), problem)
            _check_refs(
                approval["reason"], (*here, "approval", "reason"), inputs or {}, earlier, found
            )
        action_id = step.get("action")
        if isinstance(action_id, str):
            cls = actions.get(action_id)
            if cls is None:
                found.add(
                    (*here, "action"),
                    f"unknown action {action_id!r}; known: {', '.join(sorted(actions))}",
                )
            elif isinstance(step.get("with", {}), dict):
                _check_params(cls, step.get("with", {}), (*here, "with"), found)
        if isinstance(step.get("id"), str):
            earlier.add(step["id"])


def _check_refs(
    value: Any,
    path: tuple[str | int, ...],
    inputs: Mapping[str, Any],
    earlier: set[str],
    found: _Collector,
) -> None:
    for ref in template.references(value):
        parts = ref.split(".")
        if parts[0] == "inputs" and len(parts) > 1 and parts[1] not in inputs:
            found.add(path, f"{{{{ {ref} }}}}: no input {parts[1]!r} is declared")
        if parts[0] == "steps" and len(parts) > 1 and parts[1] not in earlier:
            found.add(path, f"{{{{ {ref} }}}}: no earlier step {parts[1]!r}")
        if parts[0] == "item" and "foreach" not in path and path[-1] != "foreach":
            pass  # ``item`` is None outside a foreach: harmless, and conditions may test it


def _check_params(
    cls: type[Action], params: Mapping[str, Any], path: tuple[str | int, ...], found: _Collector
) -> None:
    fields = cls.Params.model_fields
    names = {f.alias or name for name, f in fields.items()} | set(fields)
    for key in params:
        if key not in names:
            found.add(
                (*path, key),
                f"{cls.id} has no parameter {key!r}; it takes {', '.join(sorted(names))}",
            )
    templated = {k for k, v in params.items() if template.references(v)}
    concrete = {k: v for k, v in params.items() if k not in templated and k in names}
    try:
        cls.Params.model_validate(concrete)
    except ValidationError as exc:
        for error in exc.errors():
            first = error["loc"][0] if error["loc"] else None
            if first in templated:
                continue  # filled in at run time; checked then
            if error["type"] == "missing":
                found.add(path, f"{cls.id} needs parameter {first!r}")
            else:
                found.add(
                    (*path, *error["loc"]), f"{'.'.join(map(str, error['loc']))}: {error['msg']}"
                )


def validate_paths(
    paths: Iterable[Path], actions: Mapping[str, type[Action]]
) -> tuple[list[LoadedPlaybook], list[PlaybookIssue]]:
    """Every ``*.yaml``/``*.yml`` in the given files and folders; ids must be unique."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    loaded: list[LoadedPlaybook] = []
    issues: list[PlaybookIssue] = []
    if len(files) > MAX_FILES:
        issues.append(
            PlaybookIssue(str(files[MAX_FILES]), None, None, f"more than {MAX_FILES} files")
        )
        files = files[:MAX_FILES]
    by_id: dict[str, Path] = {}
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(PlaybookIssue(str(file), None, None, f"cannot read: {exc}"))
            continue
        playbook, problems = validate_text(text, str(file), actions)
        issues.extend(problems)
        if playbook is not None:
            if playbook.id in by_id:
                issues.append(
                    PlaybookIssue(
                        str(file),
                        1,
                        None,
                        f"id {playbook.id!r} is also used by {by_id[playbook.id]}",
                    )
                )
                continue
            by_id[playbook.id] = file
            loaded.append(LoadedPlaybook(playbook, file))
    return loaded, issues

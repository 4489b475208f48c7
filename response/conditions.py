"""``when`` conditions and trigger matching: small pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from alerts.model import Alert
from response.schema import Condition, Playbook, Trigger
from response.template import render


def _same(a: Any, b: Any) -> bool:
    return a == b or (a is not None and b is not None and str(a) == str(b))


def holds(condition: Condition, context: Mapping[str, Any]) -> bool:
    value = render(condition.value, context)
    present = value not in (None, "", [], {})
    if condition.exists is not None and present != condition.exists:
        return False
    if condition.equals is not None and not _same(value, condition.equals):
        return False
    if condition.not_equals is not None and _same(value, condition.not_equals):
        return False
    if condition.in_ is not None and not any(_same(value, v) for v in condition.in_):
        return False
    return not (condition.matches is not None and not fnmatchcase(str(value), condition.matches))


def all_hold(conditions: list[Condition], context: Mapping[str, Any]) -> bool:
    return all(holds(c, context) for c in conditions)


def trigger_matches(trigger: Trigger, alert: Alert) -> bool:
    return (
        fnmatchcase(alert.rule.id, trigger.rule)
        and alert.severity.rank >= trigger.min_severity.rank
        and set(trigger.tags) <= set(alert.triage.tags)
    )


def triggered(playbooks: list[Playbook], alert: Alert) -> list[Playbook]:
    """The playbooks one of whose triggers the alert matches."""
    return [p for p in playbooks if any(trigger_matches(t, alert) for t in p.triggers)]

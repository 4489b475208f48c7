"""Triage transitions: the rules every store applies when an analyst changes an alert's triage.

Sans-io on purpose: a store loads the current ``Triage``, calls ``apply_triage`` and writes the
result and a log row in one transaction, so SQLite and Elasticsearch enforce the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import ValidationError

from alerts.model import CloseReason, Triage, TriageStatus
from cityshield.errors import StoreError


class TriageError(StoreError):
    """A triage change the rules refuse; nothing was changed."""


def apply_triage(
    current: Triage,
    *,
    status: TriageStatus | None = None,
    assignee: str | None = None,
    close_reason: CloseReason | None = None,
    tags: Iterable[str] | None = None,
    tags_add: Iterable[str] = (),
    tags_remove: Iterable[str] = (),
    at: datetime,
) -> Triage:
    """The triage after the change; ``current`` itself when nothing changes.

    ``None`` leaves a field as it is; an empty ``assignee`` unassigns. Closing needs a reason (the
    SOC's metrics on false positives depend on it); a closed alert keeps its reason when only the
    assignee changes; reopening (to open or acknowledged) clears the reason. ``tags`` replaces the
    tags; ``tags_add`` and ``tags_remove`` edit them (so that two analysts tagging at once both
    keep their tag) and cannot be combined with ``tags``.
    """
    new_status = current.status if status is None else status
    if new_status is TriageStatus.CLOSED:
        kept = current.close_reason if current.status is TriageStatus.CLOSED else None
        reason = close_reason or kept
        if reason is None:
            raise TriageError("closing an alert needs a close reason")
    else:
        if close_reason is not None:
            raise TriageError(f"a close reason is only for closing, not for {new_status.value}")
        reason = None
    new_assignee = current.assignee if assignee is None else (assignee.strip() or None)
    new_tags = _edit_tags(current.tags, tags, tags_add, tags_remove)
    if (new_status, new_assignee, reason, new_tags) == (
        current.status,
        current.assignee,
        current.close_reason,
        current.tags,
    ):
        return current
    try:
        return Triage(
            status=new_status,
            assignee=new_assignee,
            close_reason=reason,
            tags=new_tags,
            updated_at=at,
        )
    except ValidationError as exc:
        raise TriageError(_problems(exc)) from None


def _edit_tags(
    current: list[str],
    tags: Iterable[str] | None,
    tags_add: Iterable[str],
    tags_remove: Iterable[str],
) -> list[str]:
    """The sorted tags after the edit; ``Triage`` validates each one."""
    add, remove = [t.strip() for t in tags_add], {t.strip() for t in tags_remove}
    if tags is not None:
        if add or remove:
            raise TriageError("give either tags (the new list) or tags_add/tags_remove, not both")
        return sorted({t.strip() for t in tags})
    return sorted((set(current) | set(add)) - remove)


def _problems(exc: ValidationError) -> str:
    """Each problem with the field it is in and, for a bad tag, the tag itself."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        value = f" ({err['input']!r})" if isinstance(err["input"], str) else ""
        problems.append(f"{where}: {err['msg']}{value}")
    return "; ".join(problems)

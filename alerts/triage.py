"""Triage transitions: the rules every store applies when an analyst changes an alert's triage.

Sans-io on purpose: a store loads the current ``Triage``, calls ``apply_triage`` and writes the
result and a log row in one transaction, so SQLite and Elasticsearch enforce the same rules.
"""

from __future__ import annotations

from datetime import datetime

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
    at: datetime,
) -> Triage:
    """The triage after the change; ``current`` itself when nothing changes.

    ``None`` leaves a field as it is; an empty ``assignee`` unassigns. Closing needs a reason (the
    SOC's metrics on false positives depend on it); a closed alert keeps its reason when only the
    assignee changes; reopening (to open or acknowledged) clears the reason.
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
    if (new_status, new_assignee, reason) == (
        current.status,
        current.assignee,
        current.close_reason,
    ):
        return current
    return Triage(status=new_status, assignee=new_assignee, close_reason=reason, updated_at=at)

"""alerts.triage: the transition rules every store applies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.model import CloseReason, Triage, TriageStatus
from alerts.triage import TriageError, apply_triage
from cityshield.errors import StoreError

AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
CLOSED = Triage(status=TriageStatus.CLOSED, assignee="ana", close_reason=CloseReason.TRUE_POSITIVE)


def test_acknowledge_and_assign() -> None:
    after = apply_triage(Triage(), status=TriageStatus.ACKNOWLEDGED, assignee="ana", at=AT)
    assert after == Triage(status=TriageStatus.ACKNOWLEDGED, assignee="ana", updated_at=AT)


def test_closing_needs_a_reason() -> None:
    with pytest.raises(TriageError, match="close reason"):
        apply_triage(Triage(), status=TriageStatus.CLOSED, at=AT)
    after = apply_triage(
        Triage(), status=TriageStatus.CLOSED, close_reason=CloseReason.FALSE_POSITIVE, at=AT
    )
    assert after.status is TriageStatus.CLOSED
    assert after.close_reason is CloseReason.FALSE_POSITIVE
    assert after.updated_at == AT


def test_a_reason_without_closing_is_refused() -> None:
    with pytest.raises(TriageError, match="only for closing"):
        apply_triage(Triage(), close_reason=CloseReason.DUPLICATE, at=AT)
    with pytest.raises(TriageError, match="only for closing"):
        apply_triage(CLOSED, status=TriageStatus.OPEN, close_reason=CloseReason.DUPLICATE, at=AT)


@pytest.mark.parametrize("status", [TriageStatus.OPEN, TriageStatus.ACKNOWLEDGED])
def test_reopening_clears_the_reason(status: TriageStatus) -> None:
    after = apply_triage(CLOSED, status=status, at=AT)
    assert after.status is status
    assert after.close_reason is None
    assert after.assignee == "ana"


def test_a_closed_alert_keeps_its_reason_when_reassigned_or_given_a_new_one() -> None:
    reassigned = apply_triage(CLOSED, assignee="bo", at=AT)
    assert (reassigned.assignee, reassigned.close_reason) == ("bo", CloseReason.TRUE_POSITIVE)
    changed = apply_triage(CLOSED, close_reason=CloseReason.DUPLICATE, at=AT)
    assert changed.close_reason is CloseReason.DUPLICATE


def test_an_empty_assignee_unassigns() -> None:
    assert apply_triage(CLOSED, assignee="", at=AT).assignee is None


def test_no_change_returns_the_same_triage() -> None:
    assert apply_triage(CLOSED, at=AT) is CLOSED
    assert apply_triage(CLOSED, status=TriageStatus.CLOSED, assignee="ana", at=AT) is CLOSED


def test_triage_errors_are_store_errors() -> None:
    # The API maps StoreError subclasses in one place; a refused transition must be among them.
    assert issubclass(TriageError, StoreError)

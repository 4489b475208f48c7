"""Decisions on approvals: who may decide (a role or a user the step names), how many distinct
people must approve, refusal after the time to live; every decision journaled and audited."""

from __future__ import annotations

from cityshield.clock import Clock
from cityshield.errors import CityShieldError, NotFoundError
from response.models import ApprovalRecord, ApprovalState
from response.store import RunStore


class ApprovalError(CityShieldError):
    """A decision that is not allowed; ``kind`` says why (forbidden, conflict, expired)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def may_decide(approval: ApprovalRecord, actor: str, role: str) -> bool:
    return role in approval.roles or actor in approval.users


def decide(
    store: RunStore,
    clock: Clock,
    approval_id: str,
    *,
    actor: str,
    role: str,
    approve: bool,
    comment: str,
) -> ApprovalRecord:
    """Record one person's decision; the approval's new state is returned."""
    found = store.approvals(approval_id=approval_id)
    if not found:
        raise NotFoundError(f"no approval {approval_id!r}")
    approval = found[0]
    now = clock.now()
    if approval.state is ApprovalState.PENDING and now >= approval.expires_at:
        store.set_approval_state(approval.id, ApprovalState.EXPIRED)
        raise ApprovalError(
            f"approval {approval_id} expired at {approval.expires_at.isoformat()}", "expired"
        )
    if approval.state is not ApprovalState.PENDING:
        raise ApprovalError(f"approval {approval_id} is {approval.state.value} already", "conflict")
    if not may_decide(approval, actor, role):
        who = ", ".join(
            [f"role {r}" for r in approval.roles] + [f"user {u}" for u in approval.users]
        )
        raise ApprovalError(
            f"{actor} ({role}) may not decide this approval; it needs {who}", "forbidden"
        )
    if any(d.actor == actor for d in approval.decisions):
        raise ApprovalError(f"{actor} has decided on approval {approval_id} already", "conflict")
    new_state = None
    if not approve:
        new_state = ApprovalState.DECLINED
    elif approval.approvals + 1 >= approval.required:
        new_state = ApprovalState.APPROVED
    store.add_decision(
        approval.id,
        actor=actor,
        role=role,
        decision="approve" if approve else "decline",
        comment=comment,
        at=now,
        new_state=new_state,
    )
    return store.approvals(approval_id=approval.id)[0]

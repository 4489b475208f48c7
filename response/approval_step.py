"""Approval steps of the engine: ask once, wait and say for whom, follow the decision or the
expiry (stop, continue, or skip to the next approval). A mixin of ``ResponseEngine``, kept apart
so that each file stays readable; it uses the engine's store, clock and journal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cityshield.clock import Clock
from response.audit import ENGINE
from response.conditions import all_hold
from response.context import template_context
from response.models import ApprovalState, RunState, StepRecord, StepState
from response.schema import OnOutcome, Step
from response.store import RunStore
from response.template import render


class RunStopped(Exception):
    """The run cannot go on now (waiting, failed, cancelled); its state is written."""


class ApprovalSteps:
    store: RunStore
    clock: Clock

    def journal(
        self,
        run_id: str,
        kind: str,
        *,
        actor: str = ENGINE,
        role: str = "admin",
        step_key: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        raise NotImplementedError

    def _records(self, run_id: str) -> dict[str, StepRecord]:
        raise NotImplementedError

    def _stop(self, run: dict[str, Any], state: RunState, reason: str) -> None:
        raise NotImplementedError

    def _still_waiting(self, run_id: str) -> bool:
        now = self.clock.now()
        pending = self.store.approvals(run_id=run_id, state=ApprovalState.PENDING)
        return bool(pending) and all(now < a.expires_at for a in pending)

    def _approval(self, run: dict[str, Any], index: int, step: Step) -> bool:
        """Handle an approval step; True when the steps after it are to be skipped."""
        assert step.approval is not None
        approval = step.approval
        record = self._records(run["id"]).get(step.id)
        now = self.clock.now()
        if record is not None and record.state is StepState.SUCCEEDED:
            return False
        if record is not None and record.state is StepState.SKIPPED:
            return isinstance(record.result, dict) and record.result.get("then") == "skip"
        context = template_context(
            run=self.store.run_row(run["id"]), steps=list(self._records(run["id"]).values())
        )
        if record is None:
            if not all_hold(step.when, context):
                self.store.put_step(
                    run["id"],
                    step.id,
                    step_id=step.id,
                    index=index,
                    state=StepState.SKIPPED,
                    at=now,
                    error="conditions not met",
                    finished=True,
                )
                return False
            reason = str(render(approval.reason, context) or f"approve step {step.id}")[:2000]
            who = waiting_for(approval.approvers.roles, approval.approvers.users, approval.required)
            if run["dry_run"]:
                self.store.put_step(
                    run["id"],
                    step.id,
                    step_id=step.id,
                    index=index,
                    state=StepState.SUCCEEDED,
                    at=now,
                    finished=True,
                    plan=f"would wait up to {approval.ttl}s for {who}: {reason}",
                    result={"dry_run": True},
                )
                return False
            expires = now.timestamp() + approval.ttl
            asked = [
                a
                for a in self.store.approvals(run_id=run["id"], state=ApprovalState.PENDING)
                if a.step_key == step.id
            ]
            if asked:  # asked before an engine died: ask once, not twice
                approval_id, expires = asked[-1].id, asked[-1].expires_at.timestamp()
            else:
                approval_id = self.store.create_approval(
                    run["id"],
                    step.id,
                    reason=reason,
                    roles=approval.approvers.roles,
                    users=approval.approvers.users,
                    required=approval.required,
                    expires_at=datetime.fromtimestamp(expires, UTC),
                    at=now,
                )
            self.store.put_step(
                run["id"],
                step.id,
                step_id=step.id,
                index=index,
                state=StepState.WAITING,
                at=now,
                attempt=True,
                plan=f"wait for {who}: {reason}",
                result={"approval_id": approval_id},
            )
            self.journal(
                run["id"],
                "approval.request",
                step_key=step.id,
                detail={
                    "approval_id": approval_id,
                    "who": who,
                    "reason": reason,
                    "expires_at": datetime.fromtimestamp(expires, UTC).isoformat(),
                },
            )
            self._stop(
                run,
                RunState.WAITING,
                f"waiting for {who} until "
                f"{datetime.fromtimestamp(expires, UTC).isoformat()}: {reason}",
            )
        found = self.store.approvals(run_id=run["id"])
        mine = [
            a for a in found if a.step_key == step.id and a.state is not ApprovalState.CANCELLED
        ]
        current = mine[-1] if mine else None
        if current is None:  # a person asked to retry an approval: ask again
            self.store.put_step(
                run["id"],
                step.id,
                step_id=step.id,
                index=index,
                state=StepState.SKIPPED,
                at=now,
                error="approval missing",
                finished=True,
            )
            return False
        if current.state is ApprovalState.PENDING and now >= current.expires_at:
            if self.store.set_approval_state(current.id, ApprovalState.EXPIRED):
                self.journal(
                    run["id"],
                    "approval.expire",
                    step_key=step.id,
                    detail={"approval_id": current.id},
                )
            current = self.store.approvals(approval_id=current.id)[0]
        if current.state is ApprovalState.PENDING:
            who = waiting_for(current.roles, current.users, current.required - current.approvals)
            self._stop(
                run,
                RunState.WAITING,
                f"waiting for {who} until {current.expires_at.isoformat()}: {current.reason}",
            )
        if current.state is ApprovalState.APPROVED:
            self.store.put_step(
                run["id"],
                step.id,
                step_id=step.id,
                index=index,
                state=StepState.SUCCEEDED,
                at=now,
                finished=True,
                result={
                    "approval_id": current.id,
                    "approved_by": [d.actor for d in current.decisions if d.decision == "approve"],
                },
            )
            return False
        outcome = (
            approval.on_expiry if current.state is ApprovalState.EXPIRED else approval.on_decline
        )
        what = current.state.value
        if outcome is OnOutcome.STOP:
            self.store.put_step(
                run["id"],
                step.id,
                step_id=step.id,
                index=index,
                state=StepState.FAILED,
                at=now,
                finished=True,
                error=f"approval {what}",
                result={"approval_id": current.id, "outcome": what, "then": "stop"},
            )
            final = (
                RunState.EXPIRED if current.state is ApprovalState.EXPIRED else RunState.DECLINED
            )
            self._stop(run, final, f"approval of step {step.id} {what}")
        self.store.put_step(
            run["id"],
            step.id,
            step_id=step.id,
            index=index,
            state=StepState.SKIPPED,
            at=now,
            finished=True,
            error=f"approval {what}",
            result={"approval_id": current.id, "outcome": what, "then": outcome.value},
        )
        return outcome is OnOutcome.SKIP

    # -------------------------------------------------------------------------------- actions


def waiting_for(roles: list[str], users: list[str], count: int) -> str:
    names = [f"role {r}" for r in roles] + [f"user {u}" for u in users]
    return f"{count} approval(s) from {' or '.join(names)}"

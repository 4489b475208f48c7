"""``ResponseEngine``: advances runs step by step, writing each step before and after it runs.

One engine executes runs per run database at a time (``EngineLock``, an advisory lock the
kernel drops when the process dies): whoever takes the lock knows every run left ``running`` was
orphaned by a dead engine and resumes it. On resuming, a step recorded as started but never
finished is run again only if its action is idempotent; any other becomes ``unknown`` and the run
waits for a person to retry or skip it: a step is never run twice unless that is harmless.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cityshield.clock import Clock
from cityshield.errors import ActionError, CityShieldError
from response.actions.base import Action, ActionContext
from response.actions.registry import ActionRegistry
from response.audit import ENGINE, Auditor
from response.conditions import all_hold
from response.context import template_context
from response.models import ApprovalState, RunState, StepRecord, StepState
from response.schema import MAX_FOREACH, OnFailure, OnOutcome, Playbook, Step
from response.store import RunStore, micros
from response.template import TemplateError, render

log = logging.getLogger(__name__)


class EngineLock:
    """An exclusive ``flock`` on ``<run db>.engine.lock``; released when the process ends."""

    def __init__(self, db_path: str) -> None:
        #: None for an in-memory run database: no other process can see it anyway.
        self.path = None if db_path == ":memory:" else Path(db_path + ".engine.lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None or self.path is None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class _Stop(Exception):
    """The run cannot go on now (waiting, failed, cancelled); its state is written."""


class ResponseEngine:
    def __init__(
        self,
        store: RunStore,
        actions: ActionRegistry,
        auditor: Auditor,
        clock: Clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.actions = actions
        self.auditor = auditor
        self.clock = clock
        self._sleep = sleep

    # ----------------------------------------------------------------------------- journal

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
        """The run database's events and the audit log, the same entry in both."""
        self.store.event(
            run_id, kind, actor=actor, at=self.clock.now(), step_key=step_key, detail=detail
        )
        after = {"step": step_key, **(detail or {})} if step_key else detail
        self.auditor.record(actor, role, f"playbook.{kind}", "playbook_run", run_id, None, after)

    # ------------------------------------------------------------------------------- advance

    def advance(self, run_id: str) -> RunState:
        """Run steps until the run finishes or must wait; returns the state it is left in."""
        run = self.store.run_row(run_id)
        state = RunState(run["state"])
        if state not in (RunState.QUEUED, RunState.RUNNING, RunState.WAITING):
            return state
        if state is RunState.WAITING and self._still_waiting(run_id):
            return state  # nothing decided, nothing expired: no write, no journal entry
        if not self.store.set_state(
            run_id,
            RunState.RUNNING,
            "",
            self.clock.now(),
            only_from=frozenset({RunState.QUEUED, RunState.RUNNING, RunState.WAITING}),
        ):
            return self._state(run_id)
        playbook = Playbook.model_validate(run["playbook"])
        try:
            skipping = False
            for index, step in enumerate(playbook.steps):
                if self._cancelled(run_id):
                    raise _Stop
                if step.approval is not None:
                    skipping = self._approval(run, index, step)
                elif skipping:
                    self._skip_all(run, index, step, "skipped after a declined or expired approval")
                else:
                    self._action(run, index, step)
        except _Stop:
            return self._state(run_id)
        if self.store.set_state(
            run_id,
            RunState.SUCCEEDED,
            "",
            self.clock.now(),
            only_from=frozenset({RunState.RUNNING}),
        ):
            self.journal(run_id, "run.finish", detail={"state": "succeeded"})
        return self._state(run_id)

    def _still_waiting(self, run_id: str) -> bool:
        now = self.clock.now()
        pending = self.store.approvals(run_id=run_id, state=ApprovalState.PENDING)
        return bool(pending) and all(now < a.expires_at for a in pending)

    def _state(self, run_id: str) -> RunState:
        return RunState(self.store.run_row(run_id)["state"])

    def _cancelled(self, run_id: str) -> bool:
        return self._state(run_id) is RunState.CANCELLED

    def _records(self, run_id: str) -> dict[str, StepRecord]:
        return {r.key: r for r in self.store.steps(run_id)}

    def _stop(self, run: dict[str, Any], state: RunState, reason: str) -> None:
        if self.store.set_state(
            run["id"], state, reason, self.clock.now(), only_from=frozenset({RunState.RUNNING})
        ):
            kind = "run.wait" if state is RunState.WAITING else "run.finish"
            if state is RunState.NEEDS_ATTENTION:
                kind = "run.attention"
            self.journal(run["id"], kind, detail={"state": state.value, "reason": reason})
        raise _Stop

    def _skip_all(self, run: dict[str, Any], index: int, step: Step, why: str) -> None:
        records = self._records(run["id"])
        if step.id not in records and not any(k.startswith(step.id + "#") for k in records):
            self.store.put_step(
                run["id"],
                step.id,
                step_id=step.id,
                index=index,
                state=StepState.SKIPPED,
                at=self.clock.now(),
                error=why,
                action=step.action,
                finished=True,
            )

    # ------------------------------------------------------------------------------ approvals

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

    def _action(self, run: dict[str, Any], index: int, step: Step) -> None:
        assert step.action is not None
        action = self.actions.get(step.action)
        if action is None:
            self._stop(
                run, RunState.FAILED, f"step {step.id}: action {step.action} is not available"
            )
            raise AssertionError  # unreachable: _stop raises
        records = self._records(run["id"])
        row = self.store.run_row(run["id"])
        context = template_context(run=row, steps=list(records.values()))
        items: list[Any] = [None]
        if step.foreach is not None:
            value = render(step.foreach, context)
            items = [] if value is None else value if isinstance(value, list) else [value]
            if len(items) > MAX_FOREACH:
                self._stop(
                    run,
                    RunState.FAILED,
                    f"step {step.id}: foreach gives more than {MAX_FOREACH} items",
                )
        if not items:
            self._skip_all(run, index, step, "foreach: nothing to do")
        for n, item in enumerate(items):
            key = step.id if step.foreach is None else f"{step.id}#{n}"
            self._one(run, index, step, action, key, item)

    def _one(
        self, run: dict[str, Any], index: int, step: Step, action: Action, key: str, item: Any
    ) -> None:
        records = self._records(run["id"])
        record = records.get(key)
        if record is not None and record.state in (StepState.SUCCEEDED, StepState.SKIPPED):
            return
        if record is not None and record.state is StepState.FAILED:
            if step.on_failure is OnFailure.CONTINUE:
                return
            self._stop(run, RunState.FAILED, f"step {key} failed: {record.error}")
        if record is not None and record.state is StepState.UNKNOWN:
            self._stop(run, RunState.NEEDS_ATTENTION, _unknown(key))
        if record is not None and record.state is StepState.STARTED and not action.idempotent:
            # Started by an engine that died before recording the end: it may have happened.
            self.store.put_step(
                run["id"],
                key,
                step_id=step.id,
                index=index,
                state=StepState.UNKNOWN,
                at=self.clock.now(),
                error="the engine stopped while this step ran; its outcome is unknown",
                finished=True,
            )
            self.journal(run["id"], "step.unknown", step_key=key, detail={"action": action.id})
            self._stop(run, RunState.NEEDS_ATTENTION, _unknown(key))
        row = self.store.run_row(run["id"])
        context = template_context(run=row, steps=list(records.values()), item=item)
        now = self.clock.now()
        if not all_hold(step.when, context):
            self.store.put_step(
                run["id"],
                key,
                step_id=step.id,
                index=index,
                item=item,
                action=action.id,
                state=StepState.SKIPPED,
                at=now,
                error="conditions not met",
                finished=True,
            )
            return
        try:
            params = action.Params.model_validate(render(step.with_, context))
            plan = action.plan(params)
        except (ValidationError, TemplateError, ActionError) as exc:
            self._fail(run, index, step, key, item, action, None, _short(exc), attempt=True)
            return
        shown = params.model_dump(mode="json", by_alias=True)  # SecretStr shows as **********
        if row["dry_run"]:
            self.store.put_step(
                run["id"],
                key,
                step_id=step.id,
                index=index,
                item=item,
                action=action.id,
                state=StepState.SUCCEEDED,
                at=now,
                params=shown,
                plan=plan,
                result={"dry_run": True, "plan": plan},
                attempt=True,
                finished=True,
            )
            self.journal(
                run["id"], "step.plan", step_key=key, detail={"action": action.id, "plan": plan}
            )
            return
        for attempt in range(1, step.retry.attempts + 1):
            self.store.put_step(
                run["id"],
                key,
                step_id=step.id,
                index=index,
                item=item,
                action=action.id,
                state=StepState.STARTED,
                at=self.clock.now(),
                params=shown,
                plan=plan,
                attempt=True,
            )
            started = self.clock.now()
            try:
                result = action.run(params, self._ctx(row, key, step))
            except Exception as exc:
                error = (
                    _short(exc)
                    if isinstance(exc, CityShieldError)
                    else f"{type(exc).__name__}: {exc}"
                )
                if attempt < step.retry.attempts and not self._cancelled(run["id"]):
                    self.store.put_step(
                        run["id"],
                        key,
                        step_id=step.id,
                        index=index,
                        state=StepState.RETRY,
                        at=self.clock.now(),
                        error=error,
                    )
                    self.journal(
                        run["id"],
                        "step.retry",
                        step_key=key,
                        detail={"attempt": attempt, "error": error},
                    )
                    self._sleep(
                        min(step.retry.backoff * 2 ** (attempt - 1), step.retry.max_backoff)
                    )
                    continue
                self._fail(run, index, step, key, item, action, shown, error)
                return
            took = micros(self.clock.now()) - micros(started)
            self.store.put_step(
                run["id"],
                key,
                step_id=step.id,
                index=index,
                action=action.id,
                state=StepState.SUCCEEDED,
                at=self.clock.now(),
                result=result,
                finished=True,
            )
            self.journal(
                run["id"],
                "step.finish",
                step_key=key,
                detail={
                    "action": action.id,
                    "state": "succeeded",
                    "params": shown,
                    "result": result,
                    "attempt": attempt,
                    "duration_ms": took // 1000,
                },
            )
            if action.id == "case.create" and isinstance(result.get("case_id"), str):
                self.store.set_case(run["id"], str(result["case_id"]))
            return

    def _fail(
        self,
        run: dict[str, Any],
        index: int,
        step: Step,
        key: str,
        item: Any,
        action: Action,
        shown: Any,
        error: str,
        *,
        attempt: bool = False,
    ) -> None:
        self.store.put_step(
            run["id"],
            key,
            step_id=step.id,
            index=index,
            item=item,
            action=action.id,
            state=StepState.FAILED,
            at=self.clock.now(),
            params=shown,
            error=error,
            attempt=attempt,
            finished=True,
        )
        self.journal(
            run["id"],
            "step.finish",
            step_key=key,
            detail={"action": action.id, "state": "failed", "params": shown, "error": error},
        )
        if step.on_failure is OnFailure.STOP:
            self._stop(run, RunState.FAILED, f"step {key} failed: {error}")

    def _ctx(self, row: dict[str, Any], key: str, step: Step) -> ActionContext:
        return ActionContext(
            run_id=row["id"],
            step_key=key,
            playbook_id=row["playbook_id"],
            started_by=row["started_by"],
            clock=self.clock,
            timeout=float(step.timeout),
            alert=row["alert"],
            case_id=row["case_id"],
        )


def waiting_for(roles: list[str], users: list[str], count: int) -> str:
    names = [f"role {r}" for r in roles] + [f"user {u}" for u in users]
    return f"{count} approval(s) from {' or '.join(names)}"


def _unknown(key: str) -> str:
    return (
        f"step {key} was running when the engine stopped and is not safe to repeat: "
        "check whether it happened, then retry or skip it"
    )


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)[:2000]

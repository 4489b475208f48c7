"""``ResponseEngine``: advances runs step by step, writing each step before and after it runs.

One engine executes runs per run database at a time (``response.lock.EngineLock``, a lock the
kernel drops when the process dies): whoever takes the lock knows every run left ``running`` was
orphaned by a dead engine and resumes it. On resuming, a step recorded as started but never
finished is run again only if its action is idempotent; any other becomes ``unknown`` and the run
waits for a person to retry or skip it: a step is never run twice unless that is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from cityshield.clock import Clock
from cityshield.errors import ActionError, CityShieldError
from response.actions.base import Action, ActionContext
from response.actions.registry import ActionRegistry
from response.approval_step import ApprovalSteps, RunStopped, waiting_for
from response.audit import ENGINE, Auditor
from response.conditions import all_hold
from response.context import template_context
from response.lock import EngineLock
from response.models import RunState, StepRecord, StepState
from response.schema import MAX_FOREACH, OnFailure, Playbook, Step
from response.store import RunStore, micros
from response.template import TemplateError, render

__all__ = ["EngineLock", "ResponseEngine", "waiting_for"]

log = logging.getLogger(__name__)


class ResponseEngine(ApprovalSteps):
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
                    raise RunStopped
                try:
                    if step.approval is not None:
                        skipping = self._approval(run, index, step)
                    elif skipping:
                        why = "skipped after a declined or expired approval"
                        self._skip_all(run, index, step, why)
                    else:
                        self._action(run, index, step)
                except TemplateError as exc:  # a foreach, condition or reason that cannot render
                    self._stop(run, RunState.FAILED, f"step {step.id}: {exc}")
        except RunStopped:
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

    def _pause(self, run_id: str, seconds: float) -> None:
        """Back off before a retry, in slices of a second so that a cancel is seen soon."""
        while seconds > 0 and not self._cancelled(run_id):
            self._sleep(min(seconds, 1.0))
            seconds -= 1.0

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
        raise RunStopped

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
                    backoff = min(step.retry.backoff * 2 ** (attempt - 1), step.retry.max_backoff)
                    self._pause(run["id"], backoff)
                    if not self._cancelled(run["id"]):
                        continue
                    error = f"{error}; the run was cancelled before the next try"
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
            cancelled=lambda: self._cancelled(row["id"]),
        )


def _unknown(key: str) -> str:
    return (
        f"step {key} was running when the engine stopped and is not safe to repeat: "
        "check whether it happened, then retry or skip it"
    )


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)[:2000]

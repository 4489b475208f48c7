"""``ResponseService``: what the API and the CLI do with playbooks: start runs, cancel, retry or
skip a step, decide approvals, list what waits for whom. Every change is journaled in the run
database and written to the audit log, with who did it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alerts.model import Alert
from cityshield.clock import Clock
from cityshield.errors import ActionError, ConfigError, NotFoundError
from response import approvals as approval_rules
from response.actions.registry import action_types
from response.approvals import ApprovalError
from response.conditions import triggered
from response.context import resolve_inputs
from response.engine import ResponseEngine, waiting_for
from response.models import (
    ACTIVE,
    FINISHED,
    ApprovalRecord,
    ApprovalState,
    RunDetail,
    RunState,
    StepState,
)
from response.schema import Playbook
from response.store import RunStore
from response.validation import PlaybookIssue, validate_paths


def load_library(folder: Path) -> tuple[dict[str, Playbook], list[PlaybookIssue]]:
    if not folder.is_dir():
        raise ConfigError("playbook folder not found", where=str(folder))
    loaded, issues = validate_paths([folder], action_types())
    return {p.playbook.id: p.playbook for p in loaded}, issues


class ResponseService:
    def __init__(
        self, store: RunStore, engine: ResponseEngine, playbooks: dict[str, Playbook], clock: Clock
    ) -> None:
        self.store = store
        self.engine = engine
        self.playbooks = playbooks
        self.clock = clock
        #: Set when something may have become runnable; the worker waits on it.
        self.wakeup = threading.Event()

    def playbook(self, playbook_id: str) -> Playbook:
        found = self.playbooks.get(playbook_id)
        if found is None:
            raise NotFoundError(f"no playbook {playbook_id!r}")
        return found

    def start(
        self,
        playbook_id: str,
        *,
        actor: str,
        role: str,
        alert: Alert | None = None,
        inputs: dict[str, Any] | None = None,
        dry_run: bool = False,
        case_id: str | None = None,
        case: dict[str, Any] | None = None,
    ) -> str:
        """A queued run; ``case`` is the case as the API shows it (its fields fill templates)."""
        playbook = self.playbook(playbook_id)
        resolved = resolve_inputs(playbook, inputs or {})
        run_id = self.store.create_run(
            playbook=playbook.model_dump(mode="json", by_alias=True),
            state=RunState.QUEUED,
            dry_run=dry_run,
            started_by=actor,
            started_role=role,
            alert=None if alert is None else alert.model_dump(mode="json"),
            case_id=case_id or (None if case is None else str(case.get("id"))),
            case=case,
            inputs=resolved,
            at=self.clock.now(),
        )
        self.engine.journal(
            run_id,
            "run.start",
            actor=actor,
            role=role,
            detail={
                "playbook": playbook.id,
                "version": playbook.version,
                "dry_run": dry_run,
                "alert_id": None if alert is None else alert.id,
                "inputs": resolved,
            },
        )
        self.wakeup.set()
        return run_id

    def detail(self, run_id: str) -> RunDetail:
        return self.store.detail(run_id)

    def cancel(self, run_id: str, *, actor: str, role: str, comment: str = "") -> RunDetail:
        run = self.store.run_row(run_id)
        if run["state"] in FINISHED:
            raise ApprovalError(f"run {run_id} is {run['state'].value} already", "conflict")
        active = frozenset(ACTIVE | {RunState.NEEDS_ATTENTION})
        if self.store.set_state(
            run_id,
            RunState.CANCELLED,
            f"cancelled by {actor}: {comment}",
            self.clock.now(),
            only_from=active,
        ):
            for approval in self.store.approvals(run_id=run_id, state=ApprovalState.PENDING):
                self.store.set_approval_state(approval.id, ApprovalState.CANCELLED)
            self.engine.journal(
                run_id, "run.cancel", actor=actor, role=role, detail={"comment": comment}
            )
        return self.detail(run_id)

    def _step_for_human(self, run_id: str, step_key: str) -> tuple[dict[str, Any], Any]:
        run = self.store.run_row(run_id)
        if run["state"] not in (
            RunState.FAILED,
            RunState.NEEDS_ATTENTION,
            RunState.DECLINED,
            RunState.EXPIRED,
        ):
            raise ApprovalError(
                f"run {run_id} is {run['state'].value}: nothing to retry or skip", "conflict"
            )
        record = next((s for s in self.store.steps(run_id) if s.key == step_key), None)
        if record is None or record.state not in (StepState.FAILED, StepState.UNKNOWN):
            raise ApprovalError(
                f"step {step_key} of run {run_id} did not fail and is not unknown", "conflict"
            )
        return run, record

    def retry(self, run_id: str, step_key: str, *, actor: str, role: str) -> RunDetail:
        """Run a failed step again (or a step whose outcome is unknown, after a person checked)."""
        _, record = self._step_for_human(run_id, step_key)
        if record.action is None:  # an approval: ask again
            self.store.delete_step(run_id, step_key)
        else:
            self.store.reset_step(run_id, step_key)
        self.store.set_state(run_id, RunState.QUEUED, "", self.clock.now())
        self.engine.journal(
            run_id,
            "step.retry_requested",
            actor=actor,
            role=role,
            step_key=step_key,
            detail={"was": record.state.value, "error": record.error},
        )
        self.wakeup.set()
        return self.detail(run_id)

    def skip(
        self, run_id: str, step_key: str, *, actor: str, role: str, comment: str = ""
    ) -> RunDetail:
        """Go on without a failed or unknown step (a person decided it is done or not needed)."""
        _, record = self._step_for_human(run_id, step_key)
        self.store.put_step(
            run_id,
            step_key,
            step_id=record.step_id,
            index=record.index,
            state=StepState.SKIPPED,
            at=self.clock.now(),
            finished=True,
            error=f"skipped by {actor}: {comment}",
        )
        self.store.set_state(run_id, RunState.QUEUED, "", self.clock.now())
        self.engine.journal(
            run_id,
            "step.skip",
            actor=actor,
            role=role,
            step_key=step_key,
            detail={"was": record.state.value, "comment": comment},
        )
        self.wakeup.set()
        return self.detail(run_id)

    def decide(
        self, approval_id: str, *, actor: str, role: str, approve: bool, comment: str
    ) -> ApprovalRecord:
        try:
            record = approval_rules.decide(
                self.store,
                self.clock,
                approval_id,
                actor=actor,
                role=role,
                approve=approve,
                comment=comment,
            )
        except ApprovalError as exc:
            found = self.store.approvals(approval_id=approval_id)
            if found:  # refusals are in the record too: who tried what
                self.engine.journal(
                    found[0].run_id,
                    "approval.refused",
                    actor=actor,
                    role=role,
                    step_key=found[0].step_key,
                    detail={"approval_id": approval_id, "approve": approve, "why": exc.message},
                )
            raise
        self.engine.journal(
            record.run_id,
            "approval.approve" if approve else "approval.decline",
            actor=actor,
            role=role,
            step_key=record.step_key,
            detail={"approval_id": approval_id, "comment": comment, "state": record.state.value},
        )
        if record.state is not ApprovalState.PENDING:
            self.wakeup.set()
        else:  # say who is still awaited
            who = waiting_for(record.roles, record.users, record.required - record.approvals)
            reason = f"waiting for {who} until {record.expires_at.isoformat()}: {record.reason}"
            self.store.set_state(
                record.run_id,
                RunState.WAITING,
                reason,
                self.clock.now(),
                only_from=frozenset({RunState.WAITING}),
            )
        return record

    def pending(self, *, actor: str | None = None, role: str | None = None) -> list[ApprovalRecord]:
        """Pending approvals; with ``actor`` and ``role``, only those this person may decide."""
        found = self.store.approvals(state=ApprovalState.PENDING)
        if actor is not None and role is not None:
            found = [a for a in found if approval_rules.may_decide(a, actor, role)]
        return found

    def start_triggered(self, alert: Alert) -> list[str]:
        """Start the runs of the playbooks whose triggers the alert matches, once per alert and
        playbook (a detector refreshing the alert starts nothing new)."""
        started = []
        for playbook in triggered(list(self.playbooks.values()), alert):
            if not self.store.has_run(alert.id, playbook.id):
                trigger = f"trigger:{alert.rule.id}"
                started.append(self.start(playbook.id, actor=trigger, role="admin", alert=alert))
        return started

    def runnable(self) -> list[str]:
        """Runs the lock holder should advance: queued, waiting, and any real run left running
        (no other engine can be running it; a pass that failed half-way left it so)."""
        found = self.store.run_ids(frozenset({RunState.QUEUED, RunState.RUNNING, RunState.WAITING}))
        return [r for r in found if not self._foreign_dry_run(r)]

    def _foreign_dry_run(self, run_id: str) -> bool:
        # Dry runs touch nothing and may run without the lock (``playbooks run --dry-run``).
        row = self.store.run_row(run_id)
        return bool(row["dry_run"]) and row["state"] is RunState.RUNNING

    def check_action(self, action_id: str) -> None:
        if self.engine.actions.get(action_id) is None:
            raise ActionError(f"no action {action_id!r}")

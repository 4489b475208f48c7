"""What the run database holds, as the engine, the CLI and the API read it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, JsonValue


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # for an approval
    NEEDS_ATTENTION = "needs_attention"  # a step's outcome is unknown: retry or skip it
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DECLINED = "declined"
    EXPIRED = "expired"


ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING, RunState.WAITING})
FINISHED = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.DECLINED, RunState.EXPIRED}
)


class StepState(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # started, never recorded finished, not idempotent
    WAITING = "waiting"
    RETRY = "retry"  # a person asked for it to run again


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class StepRecord(_Out):
    key: str
    step_id: str
    index: int
    item: JsonValue = None
    action: str | None = None
    state: StepState
    attempts: int = 0
    params: JsonValue = None
    plan: str | None = None
    result: JsonValue = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None


class Decision(_Out):
    actor: str
    role: str
    decision: str
    comment: str
    at: datetime


class ApprovalRecord(_Out):
    id: str
    run_id: str
    playbook_id: str
    step_key: str
    state: ApprovalState
    reason: str
    roles: list[str]
    users: list[str]
    required: int
    approvals: int
    expires_at: datetime
    created_at: datetime
    decisions: list[Decision]


class RunSummary(_Out):
    id: str
    playbook_id: str
    playbook_version: int
    state: RunState
    dry_run: bool
    started_by: str
    alert_id: str | None
    case_id: str | None
    #: Why the run is where it is: whom it waits for, what failed.
    reason: str
    created_at: datetime
    updated_at: datetime


class RunDetail(RunSummary):
    inputs: dict[str, JsonValue]
    steps: list[StepRecord]
    approvals: list[ApprovalRecord]


class RunEvent(_Out):
    seq: int
    at: datetime
    kind: str
    step_key: str | None
    actor: str
    detail: JsonValue

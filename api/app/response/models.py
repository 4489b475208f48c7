"""Request bodies and answers of the response routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from response.models import ApprovalRecord, RunEvent, RunSummary


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_In):
    playbook_id: str = Field(min_length=1, max_length=64)
    #: The alert the run is about (its fields fill the templates).
    alert_id: str | None = Field(None, min_length=1, max_length=200)
    case_id: str | None = Field(None, min_length=1, max_length=64)
    inputs: dict[str, JsonValue] = Field(default_factory=dict, max_length=50)
    #: Show what would happen; touch nothing.
    dry_run: bool = False


class Comment(_In):
    comment: str = Field("", max_length=2000)


class PlaybookSummary(BaseModel):
    id: str
    name: str
    version: int
    description: str
    triggers: list[dict[str, JsonValue]]
    inputs: dict[str, dict[str, JsonValue]]
    steps: list[dict[str, JsonValue]]


class PlaybookProblem(BaseModel):
    file: str
    line: int | None
    step: str | None
    message: str


class PlaybookList(BaseModel):
    items: list[PlaybookSummary]
    #: Files in the playbook folder that did not load, and why.
    problems: list[PlaybookProblem]


class RunList(BaseModel):
    items: list[RunSummary]


class ApprovalList(BaseModel):
    items: list[ApprovalRecord]


class RunHistory(BaseModel):
    items: list[RunEvent]

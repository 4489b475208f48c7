"""Schema family of cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerts.model import Severity
from api.app.cases.observables import ObservableKind

#: Traffic Light Protocol 2.0 labels (FIRST): who a case's content may be shared with.
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
CaseStatus = Literal["open", "in_progress", "resolved", "closed"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
AlertIds = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
    Field(max_length=500),
]
MAX_CASE_ALERTS = 10_000


class CaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "SSH brute force on the bastion",
                    "tlp": "amber",
                    "alert_ids": ["5f0c2b7a9e1d4c33", "9a8b7c6d5e4f3a21"],
                }
            ]
        },
    )

    title: Title
    description: Description = ""
    #: Default: the worst severity of its alerts (medium without alerts).
    severity: Severity | None = None
    tlp: Tlp = "amber"
    assignee: Annotated[str, StringConstraints(max_length=200)] | None = None
    alert_ids: AlertIds = Field(default_factory=list)


class CaseUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "in_progress", "assignee": "rui"}]},
    )

    title: Title | None = None
    description: Description | None = None
    severity: Severity | None = None
    tlp: Tlp | None = None
    status: CaseStatus | None = None
    #: An empty string unassigns.
    assignee: Annotated[str, StringConstraints(max_length=200)] | None = None


class CaseAlerts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_ids: AlertIds = Field(min_length=1)


class CaseMerge(BaseModel):
    """Merge these cases into this one: their alerts, observables and comments move here, and
    they are closed with ``merged_into`` pointing here."""

    model_config = ConfigDict(extra="forbid")

    case_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=50
    )


class CaseCommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000)]


class Observable(BaseModel):
    kind: ObservableKind
    value: str
    #: The alert it was first found in.
    alert_id: str | None


class CaseComment(BaseModel):
    id: int
    author: str
    at: datetime
    text: str


class CaseSummary(BaseModel):
    id: str
    title: str
    severity: Severity
    tlp: Tlp
    status: CaseStatus
    assignee: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    merged_into: str | None
    alerts: int


class CasePublic(CaseSummary):
    description: str
    alert_ids: list[str]
    observables: list[Observable]
    comments: list[CaseComment]


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_cursor: str | None

"""Schemas of the alert routes (``Alert`` itself is the store's model)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, model_validator

from alerts.model import MAX_COMMENT_LENGTH, Alert, CloseReason, Tag, TriageStatus
from alerts.stores.base import TriageChange
from alerts.stores.buckets import AlertBucket

#: Alerts one bulk request may change.
MAX_BULK = 500

CommentText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_COMMENT_LENGTH)
]


class AlertList(BaseModel):
    items: list[Alert]
    #: Pass as ``cursor`` for the next page; None on the last page.
    next_cursor: str | None
    #: How many alerts match in all (only with ``total=true``: counting costs time).
    total: int | None = None


class AlertDetail(BaseModel):
    """An alert with its evidence resolved: the flows it cites, and what its detector found."""

    alert: Alert
    #: The cited flows that are stored (ECS flow documents).
    flows: list[dict[str, Any]]
    #: Cited flow ids not (or no longer) in the store.
    flows_missing: list[str]
    #: YARA matches: string id, offset, length and the (escaped, bounded) bytes.
    yara_strings: list[JsonValue] | None = None
    #: An anomaly's explanation: model, score, threshold and the features that deviated.
    anomaly: dict[str, JsonValue] | None = None
    history: list[TriageChange]


class AlertUpdate(BaseModel):
    """A triage change; fields left out stay as they are. With ``expected_version`` the change is
    refused (409) if someone else changed the alert since it was read."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"status": "acknowledged", "assignee": "ana", "tags_add": ["phishing"]},
                {
                    "status": "closed",
                    "close_reason": "false_positive",
                    "comment": "the city's own vulnerability scanner",
                    "expected_version": 3,
                },
            ]
        },
    )

    status: TriageStatus | None = None
    #: An empty string unassigns.
    assignee: Annotated[str, StringConstraints(max_length=200)] | None = None
    close_reason: CloseReason | None = None
    #: The new list of tags; or edit them with ``tags_add``/``tags_remove``.
    tags: list[Tag] | None = Field(default=None, max_length=32)
    tags_add: list[Tag] = Field(default_factory=list, max_length=32)
    tags_remove: list[Tag] = Field(default_factory=list, max_length=32)
    comment: CommentText | None = None
    expected_version: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _tags_one_way(self) -> Self:
        if self.tags is not None and (self.tags_add or self.tags_remove):
            raise ValueError("give either tags or tags_add/tags_remove, not both")
        return self

    def triage_fields(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "assignee": self.assignee,
            "close_reason": self.close_reason,
            "tags": self.tags,
            "tags_add": self.tags_add,
            "tags_remove": self.tags_remove,
        }

    def changes_triage(self) -> bool:
        return any(
            v not in (None, []) for k, v in self.triage_fields().items() if k != "assignee"
        ) or (self.assignee is not None)


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "Blocked at the firewall, INC-4711."}]},
    )

    text: CommentText
    expected_version: int | None = Field(default=None, ge=0)


class BulkUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "alert_ids": ["5f0c2b7a9e1d4c33", "9a8b7c6d5e4f3a21"],
                    "change": {"status": "closed", "close_reason": "benign_positive"},
                }
            ]
        },
    )

    alert_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=MAX_BULK
    )
    change: AlertUpdate


class BulkItem(BaseModel):
    alert_id: str
    #: ``updated``, ``unchanged``, or what went wrong: ``not_found``, ``conflict``, ``refused``.
    outcome: str
    status: int
    detail: str | None = None
    version: int | None = None


class BulkResult(BaseModel):
    results: list[BulkItem]
    updated: int
    failed: int


class Aggregation(BaseModel):
    by: str
    buckets: list[AlertBucket]

"""Audit entries as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntry(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "seq": 42,
                    "at": "2026-11-22T08:15:00.000000Z",
                    "actor": "ana",
                    "role": "analyst",
                    "action": "alert.update",
                    "object_type": "alert",
                    "object_id": "5f0c2b7a9e1d4c33",
                    "before": {"status": "open"},
                    "after": {"status": "acknowledged"},
                }
            ]
        }
    )

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    #: Pass as ``after`` for the next page; None on the last page.
    next_after: int | None = Field(default=None)

"""Schemas of suppressions, their preview and counters, and per-rule aggregation keys."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from alerts.model import check_field_name

RuleId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SuppressionCreate(BaseModel):
    """``suppress`` holds back every matching alert; ``threshold`` holds back a matching alert
    until it has repeated ``min_count`` times. At least one of rule, source and destination."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "suppress",
                    "rule_id": "port_scan.vertical",
                    "source": "198.51.100.0/24",
                    "destination": None,
                    "expires_at": "2026-12-31T00:00:00Z",
                    "reason": "the city's vulnerability scanner",
                },
                {
                    "kind": "threshold",
                    "rule_id": "brute_force.ssh",
                    "min_count": 50,
                    "reason": "the bastion sees password typos all day",
                },
            ]
        },
    )

    kind: Literal["suppress", "threshold"] = "suppress"
    rule_id: RuleId | None = None
    #: CIDR blocks (or single addresses) of the alert's source and destination.
    source: str | None = None
    destination: str | None = None
    min_count: int | None = Field(default=None, ge=2, le=10_000_000)
    expires_at: AwareDatetime | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]

    @field_validator("source", "destination")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from None

    @model_validator(mode="after")
    def _scoped(self) -> Self:
        if self.rule_id is None and self.source is None and self.destination is None:
            raise ValueError("a suppression needs a rule_id, a source or a destination")
        if self.kind == "threshold" and self.min_count is None:
            raise ValueError("a threshold needs min_count")
        if self.kind == "suppress" and self.min_count is not None:
            raise ValueError("min_count is only for kind 'threshold'")
        return self


class SuppressionHits(BaseModel):
    #: Distinct alerts held back.
    alerts: int
    #: Their occurrences (the sum of their counts when last held back).
    occurrences: int
    last_at: datetime | None


class SuppressionPublic(SuppressionCreate):
    id: str
    created_by: str
    created_at: datetime
    deleted: bool
    active: bool
    hits: SuppressionHits


class SuppressionPreview(BaseModel):
    #: Stored alerts the suppression would match.
    matched: int
    #: Stored alerts looked at to count them.
    scanned: int
    #: False when the scan stopped at its budget: ``matched`` is then a lower bound.
    exact: bool


class AggregationRule(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"fields": ["source.ip", "destination.port"]}]},
    )

    #: ECS field names whose values key an aggregate (``source.ip``, ``destination.port``, ...).
    fields: list[str] = Field(min_length=1, max_length=10)

    @field_validator("fields")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            check_field_name(name)
        if len(set(value)) != len(value):
            raise ValueError("a field is named twice")
        return value


class AggregationRulePublic(AggregationRule):
    rule_id: str
    updated_by: str
    updated_at: datetime

"""The playbook format as pydantic models; ``playbooks/schema.json`` is generated from these.

A playbook: id, name, version, description, triggers, typed inputs, and steps. A step is either
an action (``action`` with parameters in ``with``) or an approval (``approval``). Templates
(``response.template``) may appear in parameters, ``when`` values and ``foreach``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from alerts.model import Severity

FORMAT_VERSION = 1
MAX_STEPS = 100
MAX_FOREACH = 100

Ident = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
ActionId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=64)]
_DURATION = re.compile(r"^(\d{1,7})\s*(s|m|h|d)?$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def seconds(value: Any) -> int:
    """``90``, ``"90s"``, ``"15m"``, ``"12h"``, ``"7d"`` as seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like 15m, 12h, 7d")
    if isinstance(value, int | float):
        return int(value)
    match = _DURATION.match(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 90, 90s, 15m, 12h or 7d")
    return int(match[1]) * _UNITS[match[2]]


Duration = Annotated[int, Field(ge=0, le=30 * 86400)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Model):
    """Start automatically when a new alert matches: its rule id matches the glob, it is at least
    this severe, and it has all these tags."""

    rule: str = Field("*", min_length=1, max_length=200, description="glob on rule.id")
    min_severity: Severity = Severity.LOW
    tags: list[str] = Field(default_factory=list, max_length=16)


class InputType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    IP = "ip"
    DOMAIN = "domain"
    LIST = "list"


class InputSpec(_Model):
    type: InputType = InputType.STRING
    description: str = Field("", max_length=1000)
    required: bool = False
    default: JsonValue = None


class Condition(_Model):
    """Holds when the rendered ``value`` passes every test given."""

    value: str = Field(max_length=500, description="a template, e.g. {{ alert.severity }}")
    equals: JsonValue = None
    not_equals: JsonValue = None
    in_: list[JsonValue] | None = Field(None, alias="in", max_length=100)
    exists: bool | None = None
    matches: str | None = Field(None, max_length=200, description="glob")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _tests_something(self) -> Self:
        tests = (self.equals, self.not_equals, self.in_, self.exists, self.matches)
        if all(t is None for t in tests):
            raise ValueError("a condition needs a test: equals, not_equals, in, exists or matches")
        return self


class Retry(_Model):
    attempts: int = Field(1, ge=1, le=10, description="tries in all, the first included")
    backoff: Duration = Field(2, description="seconds before the second try; doubles after")
    max_backoff: Duration = 300

    @field_validator("backoff", "max_backoff", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return seconds(value)


class OnFailure(StrEnum):
    STOP = "stop"
    CONTINUE = "continue"


class OnOutcome(StrEnum):
    """What a declined or expired approval does to the run."""

    STOP = "stop"
    CONTINUE = "continue"
    SKIP = "skip"  # skip the steps up to the next approval or the end, then go on


#: The roles of people who may decide approvals: the API's person roles (``api.app.auth.roles``,
#: which ``response`` may not import; a test keeps the two equal). Sensors decide nothing.
PERSON_ROLES = ("admin", "analyst", "responder", "auditor")


class Approvers(_Model):
    roles: list[str] = Field(default_factory=list, max_length=10)
    users: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if not self.roles and not self.users:
            raise ValueError("name at least one role or user who may approve")
        unknown = [r for r in self.roles if r not in PERSON_ROLES]
        if unknown:
            known = ", ".join(PERSON_ROLES)
            raise ValueError(f"no role {', '.join(map(repr, unknown))}; roles are {known}")
        return self


class Approval(_Model):
    approvers: Approvers
    required: int = Field(1, ge=1, le=10, description="distinct people who must approve")
    ttl: Duration = Field(3600, description="time to decide, e.g. 30m")
    on_decline: OnOutcome = OnOutcome.STOP
    on_expiry: OnOutcome = OnOutcome.STOP
    reason: str = Field("", max_length=2000, description="why approval is asked; a template")

    @field_validator("ttl", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return seconds(value)


class Step(_Model):
    id: Ident
    name: str = Field("", max_length=200)
    action: ActionId | None = None
    with_: dict[str, JsonValue] = Field(default_factory=dict, alias="with")
    approval: Approval | None = None
    when: list[Condition] = Field(default_factory=list, max_length=20)
    foreach: str | None = Field(None, max_length=500, description="a template giving a list")
    retry: Retry = Retry()
    timeout: Duration = Field(60, description="seconds for one try")
    on_failure: OnFailure = OnFailure.STOP

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return seconds(value)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.action is None) == (self.approval is None):
            raise ValueError("a step has either an action or an approval, not both or neither")
        if self.approval is not None and (self.with_ or self.foreach):
            raise ValueError("an approval step takes no 'with' or 'foreach'")
        return self


class Playbook(_Model):
    format: Literal[1] = 1  # FORMAT_VERSION
    id: Ident
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(1, ge=1)
    description: str = Field("", max_length=5000)
    triggers: list[Trigger] = Field(default_factory=list, max_length=20)
    inputs: dict[Ident, InputSpec] = Field(default_factory=dict, max_length=50)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @model_validator(mode="after")
    def _unique_steps(self) -> Self:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used twice")
            seen.add(step.id)
        return self


def json_schema() -> dict[str, Any]:
    schema = Playbook.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cityshield.example/schemas/playbook-v1.json"
    return schema

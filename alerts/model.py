"""The Alert model: ECS-shaped, validated, with a version number on the stored format.

Field names follow the Elastic Common Schema (ECS 8.x) so that the Elasticsearch store can index
``Alert.to_ecs()`` as it is and analysts can reuse their Kibana habits. What ECS has no field for
(the aggregate count, evidence references, triage state) lives under ``cityshield.alert``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StringConstraints,
    field_validator,
    model_validator,
)

from alerts.evidence import Evidence
from cityshield.ids import record_id

#: Version of the stored alert format; ``Alert.from_ecs`` refuses documents from a newer version.
SCHEMA_VERSION = 1

UtcDatetime = Annotated[AwareDatetime, AfterValidator(lambda v: v.astimezone(UTC))]
"""A timezone-aware datetime, normalised to UTC. Naive datetimes are rejected: a sensor's local
time zone must never leak into stored alerts."""

TechniqueId = Annotated[str, StringConstraints(pattern=r"^T\d{4}(\.\d{3})?$")]
"""A MITRE ATT&CK technique or sub-technique id (``T1046``, ``T1071.004``)."""

#: Bounds on what analysts attach to one alert: tags and comments come from API requests.
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_COMMENTS = 200
MAX_COMMENT_LENGTH = 4000

Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        pattern=r"^[^\s,\x00-\x1f]+$",
    ),
]
"""A triage tag (``phishing``, ``case:4711``): no spaces or commas, so that a list of tags reads
back unambiguously in a command line or a Kibana filter."""

#: A value of one aggregation field; hashable, so that a tuple of them can key a dict.
FieldValue = str | int | float | bool | None

#: The ECS version whose field names ``to_ecs`` uses.
ECS_VERSION = "8.11.0"

DEFAULT_AGGREGATION_FIELDS = ("source.ip", "destination.ip", "destination.port")
DATA_FIELD_PREFIX = "cityshield.alert.data."


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """1 (low) to 4 (critical): what ECS ``event.severity`` holds and what sorts alerts."""
        return _RANKS[self]

    @property
    def risk_score(self) -> float:
        """The default risk score, as Elastic Security's detection rules assign it."""
        return _RISK_SCORES[self]

    @classmethod
    def from_rank(cls, rank: int) -> Severity:
        for severity, r in _RANKS.items():
            if r == rank:
                return severity
        raise ValueError(f"no severity has rank {rank}")


_RANKS = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}
_RISK_SCORES = {
    Severity.LOW: 21.0,
    Severity.MEDIUM: 47.0,
    Severity.HIGH: 73.0,
    Severity.CRITICAL: 99.0,
}


class TriageStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class CloseReason(StrEnum):
    TRUE_POSITIVE = "true_positive"
    BENIGN_POSITIVE = "benign_positive"
    FALSE_POSITIVE = "false_positive"
    DUPLICATE = "duplicate"
    OTHER = "other"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleRef(_Frozen):
    """The detection rule that raised an alert (ECS ``rule.*``)."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str = "1"
    description: str = ""
    category: str = ""
    reference: str = ""


class Endpoint(_Frozen):
    """One side of a connection; ``ip`` is stored in its normalised text form."""

    ip: str
    port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("ip")
    @classmethod
    def _normalise_ip(cls, value: str) -> str:
        return str(ipaddress.ip_address(value))


class Triage(_Frozen):
    """Where an analyst is with an alert. A closed alert always says why it was closed."""

    status: TriageStatus = TriageStatus.OPEN
    assignee: str | None = None
    close_reason: CloseReason | None = None
    #: Sorted, without repeats (ECS ``tags`` holds the same list).
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    updated_at: UtcDatetime | None = None

    @field_validator("tags")
    @classmethod
    def _sorted_tags(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _reason_only_when_closed(self) -> Self:
        if self.status is TriageStatus.CLOSED and self.close_reason is None:
            raise ValueError("closing an alert needs a close_reason")
        if self.status is not TriageStatus.CLOSED and self.close_reason is not None:
            raise ValueError(f"close_reason is only for closed alerts, not {self.status.value}")
        return self


class Comment(_Frozen):
    """An analyst's note on an alert; comments are only ever added, never edited."""

    id: str = Field(min_length=1)
    author: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_COMMENT_LENGTH)
    at: UtcDatetime


class Alert(_Frozen):
    """One alert, or the aggregate of many repeats of it (``count``)."""

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION)
    id: str = Field(min_length=1)
    rule: RuleRef
    severity: Severity
    risk_score: float = Field(ge=0, le=100)
    message: str
    source: Endpoint | None = None
    destination: Endpoint | None = None
    transport: str | None = None
    community_id: str | None = None
    #: The sensor that saw it (ECS ``observer.name``).
    observer: str = Field(min_length=1)
    techniques: list[TechniqueId] = Field(default_factory=list)
    count: int = Field(default=1, ge=1)
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    aggregation_fields: list[str] = Field(default_factory=lambda: list(DEFAULT_AGGREGATION_FIELDS))
    evidence: Evidence = Field(default_factory=Evidence)
    data: dict[str, JsonValue] = Field(default_factory=dict)
    triage: Triage = Field(default_factory=Triage)
    #: Analysts' comments, oldest first. Kept by the store like ``triage``: never a detector's.
    comments: list[Comment] = Field(default_factory=list, max_length=MAX_COMMENTS)
    #: How many analyst changes (triage, tags, comments) the stored alert has had: the version a
    #: change names in ``expected_version`` so that two analysts never overwrite each other
    #: silently. Detector refreshes leave it alone, so a growing scan never makes an edit fail.
    version: int = Field(default=0, ge=0)

    @field_validator("aggregation_fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        for name in value:
            check_field_name(name)
        return value

    @model_validator(mode="after")
    def _seen_in_order(self) -> Self:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        return self

    @classmethod
    def raised(
        cls,
        *,
        rule: RuleRef,
        severity: Severity,
        message: str,
        observer: str,
        first_seen: datetime,
        last_seen: datetime | None = None,
        source: Endpoint | None = None,
        destination: Endpoint | None = None,
        transport: str | None = None,
        community_id: str | None = None,
        techniques: Sequence[str] = (),
        count: int = 1,
        risk_score: float | None = None,
        aggregation_fields: Sequence[str] = DEFAULT_AGGREGATION_FIELDS,
        evidence: Evidence | None = None,
        data: Mapping[str, JsonValue] | None = None,
    ) -> Alert:
        """A new alert as a detector raises it: the risk score defaults to the severity's, and the
        id is derived from what the alert is about, so that re-raising it gives the same id."""
        alert = cls(
            id="pending",
            rule=rule,
            severity=severity,
            risk_score=severity.risk_score if risk_score is None else risk_score,
            message=message,
            source=source,
            destination=destination,
            transport=transport,
            community_id=community_id,
            observer=observer,
            techniques=list(techniques),
            count=count,
            first_seen=first_seen,
            last_seen=first_seen if last_seen is None else last_seen,
            aggregation_fields=list(aggregation_fields),
            evidence=evidence or Evidence(),
            data=dict(data or {}),
        )
        parts = (alert.observer, alert.rule.id, *alert.aggregation_key(), iso(alert.first_seen))
        return alert.model_copy(update={"id": record_id(*parts)})

    def field(self, name: str) -> JsonValue:
        """The value of an ECS field by its dotted name (``source.ip``); None when absent."""
        getter = _FIELD_GETTERS.get(name)
        if getter is not None:
            return getter(self)
        check_field_name(name)
        value: JsonValue = self.data
        for part in name.removeprefix(DATA_FIELD_PREFIX).split("."):
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def aggregation_key(self) -> tuple[FieldValue, ...]:
        """The values of the aggregation fields: repeats of a rule with equal keys are one alert."""
        return tuple(_hashable(self.field(name)) for name in self.aggregation_fields)

    def to_ecs(self) -> dict[str, Any]:
        """The alert as an ECS document, as the stores keep it; ``from_ecs`` is its inverse."""
        doc: dict[str, Any] = {
            "@timestamp": iso(self.first_seen),
            "ecs": {"version": ECS_VERSION},
            "event": {
                "kind": "alert",
                "id": self.id,
                "severity": self.severity.rank,
                "risk_score": self.risk_score,
                "start": iso(self.first_seen),
                "end": iso(self.last_seen),
            },
            "message": self.message,
            "rule": self.rule.model_dump(),
            "observer": {"name": self.observer},
        }
        for side, endpoint in (("source", self.source), ("destination", self.destination)):
            if endpoint is not None:
                doc[side] = endpoint.model_dump(exclude_none=True)
        network = {"transport": self.transport, "community_id": self.community_id}
        if any(v is not None for v in network.values()):
            doc["network"] = {k: v for k, v in network.items() if v is not None}
        if self.techniques:
            doc["threat"] = {
                "framework": "MITRE ATT&CK",
                "technique": {"id": list(self.techniques)},
            }
        triage = self.triage.model_dump(mode="json", exclude={"updated_at", "tags"})
        triage["updated_at"] = iso(self.triage.updated_at) if self.triage.updated_at else None
        if self.triage.tags:
            doc["tags"] = list(self.triage.tags)
        doc["cityshield"] = {
            "alert": {
                "schema_version": self.schema_version,
                "count": self.count,
                "aggregation_fields": list(self.aggregation_fields),
                "evidence": self.evidence.model_dump(mode="json"),
                "data": self.data,
                "triage": triage,
            }
        }
        # Analyst state only when there is some: documents of untouched alerts keep their shape.
        if self.version:
            doc["cityshield"]["alert"]["version"] = self.version
        if self.comments:
            doc["cityshield"]["alert"]["comments"] = [
                {**c.model_dump(mode="json", exclude={"at"}), "at": iso(c.at)}
                for c in self.comments
            ]
        return doc

    @classmethod
    def from_ecs(cls, doc: Mapping[str, Any]) -> Alert:
        """The alert an ECS document from ``to_ecs`` holds; a ``ValueError`` for anything else."""
        try:
            ext = doc["cityshield"]["alert"]
            version = ext["schema_version"]
            if not isinstance(version, int) or version > SCHEMA_VERSION:
                # A newer CityShield wrote it: guessing at its meaning could lose or corrupt triage.
                raise ValueError(
                    f"alert schema_version {version!r} is newer than this CityShield "
                    f"understands ({SCHEMA_VERSION}); upgrade CityShield"
                )
            event = doc["event"]
            network = doc.get("network", {})
            return cls.model_validate(
                {
                    "schema_version": version,
                    "id": event["id"],
                    "rule": doc["rule"],
                    "severity": Severity.from_rank(event["severity"]),
                    "risk_score": event["risk_score"],
                    "message": doc["message"],
                    "source": doc.get("source"),
                    "destination": doc.get("destination"),
                    "transport": network.get("transport"),
                    "community_id": network.get("community_id"),
                    "observer": doc["observer"]["name"],
                    "techniques": doc.get("threat", {}).get("technique", {}).get("id", []),
                    "count": ext["count"],
                    "first_seen": event["start"],
                    "last_seen": event["end"],
                    "aggregation_fields": ext["aggregation_fields"],
                    "evidence": ext["evidence"],
                    "data": ext["data"],
                    "triage": {**ext["triage"], "tags": doc.get("tags", [])},
                    "comments": ext.get("comments", []),
                    "version": ext.get("version", 0),
                }
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a CityShield alert document: {exc!r}") from exc


def iso(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and ``Z``, the one timestamp format of stored documents."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_field_name(name: str) -> str:
    """``name`` if alerts can be aggregated on it, else a ``ValueError`` listing what can."""
    if name in _FIELD_GETTERS or (name.startswith(DATA_FIELD_PREFIX) and name != DATA_FIELD_PREFIX):
        return name
    known = ", ".join(sorted(_FIELD_GETTERS))
    raise ValueError(
        f"unknown alert field {name!r}; use one of {known} or {DATA_FIELD_PREFIX}<key>"
    )


def _hashable(value: JsonValue) -> FieldValue:
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return value


_FIELD_GETTERS: dict[str, Callable[[Alert], FieldValue]] = {
    "rule.id": lambda a: a.rule.id,
    "rule.name": lambda a: a.rule.name,
    "source.ip": lambda a: a.source.ip if a.source else None,
    "source.port": lambda a: a.source.port if a.source else None,
    "destination.ip": lambda a: a.destination.ip if a.destination else None,
    "destination.port": lambda a: a.destination.port if a.destination else None,
    "network.transport": lambda a: a.transport,
    "network.community_id": lambda a: a.community_id,
    "observer.name": lambda a: a.observer,
}

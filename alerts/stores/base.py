"""The store-neutral interface every alert store implements, and the queries it answers.

``SqliteAlertStore`` is the default; ``ElasticsearchAlertStore`` implements the same interface, so
nothing here may assume SQL. What all stores must agree on (how an upsert meets a stored alert, how
cursors are spelt) is written once here rather than once per store; ``tests/unit/alerts/
stores_contract`` runs one suite against every store.

Changed for the HTTP API (issue 5):

* Triage has tags: ``update_triage(..., tags=[...])`` replaces them, ``tags_add``/``tags_remove``
  edit them; ``AlertQuery.tags`` finds alerts with any of the given tags.
* ``add_comment(alert_id, author=, text=) -> Comment``; an alert carries its comments, oldest
  first.
* Every stored alert has a ``version``: the number of analyst changes (triage, tags, comments) it
  has had. ``update_triage`` and ``add_comment`` take ``expected_version`` and raise
  ``cityshield.errors.ConflictError`` (nothing changed) when the alert is at another version.
  Detector upserts keep the version, the comments and the triage.
* ``aggregate_alerts(query, by=...)`` returns the console's buckets (``alerts.stores.buckets``).
* ``add_records(kind, docs)`` stores protocol records (``alerts.stores.records``).
* ``append_triage_log(alert_id, changes)`` copies a triage history (``alerts.stores.migration``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.model import (
    Alert,
    CloseReason,
    Comment,
    Severity,
    Tag,
    TriageStatus,
    UtcDatetime,
    iso,
)
from alerts.stores.buckets import AggregateBy, AlertBucket
from alerts.stores.records import RecordKind
from cityshield.clock import Clock
from cityshield.errors import ConflictError
from cityshield.ids import record_id
from cityshield.settings import Section

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RecordQuery(BaseModel):
    """Filters alerts and flows share."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Records whose time span overlaps [start, end] (both ends included).
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    #: An address or a CIDR block (IPv4 or IPv6) matching the source or the destination.
    ip: str | None = None
    community_id: str | None = None
    observer: str | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    #: Opaque keyset cursor: where the previous page ended.
    cursor: str | None = None

    @field_validator("ip")
    @classmethod
    def _normalise_ip(cls, value: str | None) -> str | None:
        return None if value is None else str(ipaddress.ip_network(value, strict=False))

    @field_validator("cursor")
    @classmethod
    def _valid_cursor(cls, value: str | None) -> str | None:
        if value is not None:
            decode_cursor(value)
        return value

    def network(self) -> IpNetwork | None:
        return None if self.ip is None else ipaddress.ip_network(self.ip)


class AlertQuery(RecordQuery):
    """Which alerts to list; results come newest ``last_seen`` first, then by id descending."""

    severities: list[Severity] | None = None
    min_severity: Severity | None = None
    rule_ids: list[str] | None = None
    statuses: list[TriageStatus] | None = None
    #: Alerts with any of these tags.
    tags: list[Tag] | None = None
    #: Case-insensitive substring of the message or the rule name.
    text: str | None = None


class FlowQuery(RecordQuery):
    """Which flows to list; results come newest ``event.end`` first, then by id descending."""

    transport: str | None = None
    #: Zeek-style connection state (``SF``, ``S0``, ``REJ``, ...).
    conn_state: str | None = None

    @field_validator("transport")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        # ECS network.transport is lowercase (``tcp``); accept what people type.
        return None if value is None else value.lower()


class AlertPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[Alert]
    #: Pass as ``cursor`` for the next page; None on the last page.
    next_cursor: str | None


class TriageChange(BaseModel):
    """One row of the append-only triage log."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    actor: str
    at: UtcDatetime
    before: dict[str, Any]
    after: dict[str, Any]


def encode_cursor(seen: datetime, record_id: str) -> str:
    """A keyset cursor after the record with this sort time and id."""
    raw = json.dumps([iso(seen), record_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (sort time, id) a cursor stands for; a ``ValueError`` for anything else."""
    try:
        seen, record_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        at = datetime.fromisoformat(seen)
    except (ValueError, TypeError) as exc:
        raise ValueError("not a cursor from this store") from exc
    if at.tzinfo is None or not isinstance(record_id, str):
        raise ValueError("not a cursor from this store")
    return at, record_id


def flow_span(flow: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """When a flow started and ended (``@timestamp`` stands in for a missing start)."""
    event = flow["event"]
    start = datetime.fromisoformat(event.get("start") or flow["@timestamp"])
    end = datetime.fromisoformat(event["end"]) if event.get("end") else start
    return start, end


def flow_cursor(flow: Mapping[str, Any]) -> str:
    """The cursor for the page after ``flow``, the last flow ``query_flows`` returned."""
    return encode_cursor(flow_span(flow)[1], flow["event"]["id"])


def refresh(stored: Alert, incoming: Alert) -> Alert:
    """What an upsert of ``incoming`` makes of ``stored`` (the same id).

    The incoming alert is the aggregator's whole current state, so counts are not added; taking the
    maximum makes a replayed older state (a sensor's spool after an outage) harmless. Triage is an
    analyst's work and never overwritten by a detector.
    """
    newest = incoming if incoming.last_seen >= stored.last_seen else stored
    return incoming.model_copy(
        update={
            "count": max(stored.count, incoming.count),
            "first_seen": min(stored.first_seen, incoming.first_seen),
            "last_seen": max(stored.last_seen, incoming.last_seen),
            "severity": max(stored.severity, incoming.severity, key=lambda s: s.rank),
            "risk_score": max(stored.risk_score, incoming.risk_score),
            "evidence": stored.evidence.merge(incoming.evidence),
            "message": newest.message,
            "data": newest.data,
            "triage": stored.triage,
            "comments": stored.comments,
            "version": stored.version,
        }
    )


def check_version(alert: Alert, expected: int | None, where: str) -> None:
    """``ConflictError`` when an analyst's change was based on another version of ``alert``."""
    if expected is not None and expected != alert.version:
        raise ConflictError(
            f"alert {alert.id} is at version {alert.version}, not {expected}: someone changed it "
            "since it was read; nothing was changed, read it again",
            where=where,
            current_version=alert.version,
        )


def new_comment(alert: Alert, *, author: str, text: str, at: datetime) -> Comment:
    """The comment that becomes version ``alert.version + 1``; its id is derived from both."""
    return Comment(
        id=record_id(alert.id, "comment", alert.version + 1),
        author=author.strip(),
        text=text.strip(),
        at=at,
    )


class AlertStore(ABC):
    """Where alerts, the flows they refer to, and triage changes are kept."""

    #: The registry id (``open_store(id, ...)``).
    id: ClassVar[str]
    #: The options ``open_store`` validates before calling ``from_settings``.
    settings_class: ClassVar[type[Section]]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Section, clock: Clock) -> Self: ...

    @abstractmethod
    def upsert_alerts(self, alerts: Iterable[Alert]) -> int:
        """Insert new alerts; refresh stored ones (see ``refresh``). Returns how many were given."""

    @abstractmethod
    def get_alert(self, alert_id: str) -> Alert:
        """The alert with this id; ``NotFoundError`` if there is none."""

    @abstractmethod
    def query_alerts(self, query: AlertQuery) -> AlertPage: ...

    @abstractmethod
    def count_alerts(self, query: AlertQuery) -> int:
        """How many alerts match (``limit`` and ``cursor`` are ignored)."""

    @abstractmethod
    def update_triage(
        self,
        alert_id: str,
        *,
        status: TriageStatus | None = None,
        assignee: str | None = None,
        close_reason: CloseReason | None = None,
        tags: Iterable[str] | None = None,
        tags_add: Iterable[str] = (),
        tags_remove: Iterable[str] = (),
        expected_version: int | None = None,
        actor: str,
    ) -> Alert:
        """Change triage (see ``alerts.triage.apply_triage``) and log it, all or nothing.

        A change bumps ``version``; a change to nothing returns the alert as it is. With
        ``expected_version``, ``ConflictError`` if the alert is at another version."""

    @abstractmethod
    def add_comment(
        self, alert_id: str, *, author: str, text: str, expected_version: int | None = None
    ) -> Comment:
        """Append a comment (bumps ``version``; logged in the triage log as ``{"comment": ...}``).
        ``TriageError`` for an empty text or an alert with ``MAX_COMMENTS`` comments already."""

    @abstractmethod
    def triage_history(self, alert_id: str) -> list[TriageChange]:
        """The triage changes of an alert, oldest first."""

    @abstractmethod
    def aggregate_alerts(
        self,
        query: AlertQuery,
        by: AggregateBy,
        *,
        interval: timedelta | None = None,
        size: int = 10,
    ) -> list[AlertBucket]:
        """Matching alerts grouped (``limit`` and ``cursor`` are ignored).

        By ``rule``, ``source``, ``destination`` or ``severity``: the ``size`` largest groups, most
        alerts first, then by key; alerts without the field are left out. By ``time``: every
        non-empty bucket of ``interval`` (default one hour) by ``first_seen``, oldest first;
        ``StoreError`` if that would be more than ``MAX_TIME_BUCKETS``."""

    @abstractmethod
    def add_records(self, kind: RecordKind, docs: Iterable[Mapping[str, Any]]) -> int:
        """Store ECS protocol records of one kind (see ``alerts.stores.records``); a record with
        a stored id replaces it. Returns how many were stored."""

    @abstractmethod
    def append_triage_log(self, alert_id: str, changes: Sequence[TriageChange]) -> int:
        """Copy an alert's whole triage history from another store (oldest first), for
        migrations: rows this store has already (by position) are skipped, so copying again adds
        nothing. Returns how many rows were added."""

    @abstractmethod
    def add_flows(self, docs: Iterable[Mapping[str, Any]]) -> int:
        """Store ECS flow documents (a document with a stored ``event.id`` replaces it)."""

    @abstractmethod
    def get_flow(self, flow_id: str) -> dict[str, Any]:
        """The flow document with this ``event.id``; ``NotFoundError`` if there is none."""

    @abstractmethod
    def query_flows(self, query: FlowQuery) -> list[dict[str, Any]]:
        """Matching flow documents; ``flow_cursor(result[-1])`` continues after them."""

    @abstractmethod
    def stats(self) -> dict[str, int]: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

"""Routes: search alerts, count them by group, read one with its evidence, change triage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import AwareDatetime, ValidationError

from alerts.model import Alert, Comment, Severity, TriageStatus
from alerts.stores.base import AlertQuery
from alerts.stores.buckets import MAX_TERM_BUCKETS, AggregateBy
from api.app.deps import Analyst, CaseWorker, Reader, ServicesDep
from api.app.errors import InvalidRequest
from api.app.problems import problem_responses
from api.app.triage.models import (
    Aggregation,
    AlertDetail,
    AlertList,
    AlertUpdate,
    BulkResult,
    BulkUpdate,
    CommentCreate,
)

router = APIRouter(
    prefix="/api/v1", tags=["alerts"], responses=problem_responses(400, 401, 403, 422, 429, 503)
)
AlertId = Annotated[str, Path(min_length=1, max_length=200)]
Text = Annotated[str, Query(max_length=200)]


async def alert_query(
    start: Annotated[AwareDatetime | None, Query(description="Alerts seen at or after")] = None,
    end: Annotated[AwareDatetime | None, Query(description="Alerts seen at or before")] = None,
    ip: Annotated[
        str | None, Query(max_length=50, description="Source or destination IP/CIDR")
    ] = None,
    community_id: Annotated[str | None, Query(max_length=100)] = None,
    observer: Annotated[str | None, Query(max_length=100, description="Sensor name")] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=4)] = None,
    min_severity: Severity | None = None,
    rule: Annotated[list[Text] | None, Query(max_length=100, description="Rule ids")] = None,
    status: Annotated[list[TriageStatus] | None, Query(max_length=3)] = None,
    tag: Annotated[list[Text] | None, Query(max_length=32, description="Any of these tags")] = None,
    text: Annotated[
        str | None, Query(max_length=200, description="In message or rule name")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500, description="From next_cursor")] = None,
) -> AlertQuery:
    """The store's ``AlertQuery`` from query parameters; a bad value is a 422 naming it.
    (``async``: no I/O, so no trip through the thread pool.)"""
    try:
        return AlertQuery(
            start=start, end=end, ip=ip, community_id=community_id, observer=observer,
            severities=severity, min_severity=min_severity, rule_ids=rule, statuses=status,
            tags=tag, text=text, limit=limit, cursor=cursor,
        )  # fmt: skip
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'query'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRequest(problems) from None


Filters = Annotated[AlertQuery, Depends(alert_query)]


@router.get("/alerts", summary="Search alerts, newest first, in pages")
def search(
    query: Filters,
    principal: Reader,
    services: ServicesDep,
    total: Annotated[bool, Query(description="Also count every match")] = False,
) -> AlertList:
    return services.triage.search(query, total=total)


@router.get(
    "/alerts/aggregations", summary="Count matching alerts by rule, address, severity or time"
)
def aggregations(
    query: Filters,
    principal: Reader,
    services: ServicesDep,
    by: AggregateBy = "rule",
    interval: Annotated[
        int | None, Query(ge=1, le=31_536_000, description="Seconds (by time)")
    ] = None,
    size: Annotated[int, Query(ge=1, le=MAX_TERM_BUCKETS)] = 10,
) -> Aggregation:
    return Aggregation(by=by, buckets=services.triage.aggregate(query, by, interval, size))


@router.post(
    "/alerts/bulk",
    summary="One triage change to many alerts, with a result per alert",
)
def bulk(body: BulkUpdate, principal: Analyst, services: ServicesDep) -> BulkResult:
    return services.triage.bulk(principal, body.alert_ids, body.change)


@router.get(
    "/alerts/{alert_id}",
    summary="One alert with its evidence and triage history",
    responses=problem_responses(404),
)
def detail(alert_id: AlertId, principal: Reader, services: ServicesDep) -> AlertDetail:
    return services.triage.detail(alert_id)


@router.patch(
    "/alerts/{alert_id}",
    summary="Change status, assignee, tags, close reason; add a comment",
    responses=problem_responses(404, 409),
)
def update(
    alert_id: AlertId, body: AlertUpdate, principal: Analyst, services: ServicesDep
) -> Alert:
    return services.triage.update(principal, alert_id, body)


@router.post(
    "/alerts/{alert_id}/comments",
    status_code=201,
    summary="Comment on an alert",
    responses=problem_responses(404, 409),
)
def comment(
    alert_id: AlertId, body: CommentCreate, principal: CaseWorker, services: ServicesDep
) -> Comment:
    return services.triage.comment(principal, alert_id, body.text, body.expected_version)

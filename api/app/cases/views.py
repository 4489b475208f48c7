"""Routes: cases, their alerts, merges, comments and history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.app.audit.models import AuditPage
from api.app.cases.models import (
    CaseAlerts,
    CaseComment,
    CaseCommentCreate,
    CaseCreate,
    CaseList,
    CaseMerge,
    CasePublic,
    CaseStatus,
    CaseUpdate,
)
from api.app.deps import CaseWorker, Reader, ServicesDep
from api.app.problems import problem_responses

router = APIRouter(
    prefix="/api/v1", tags=["cases"], responses=problem_responses(400, 401, 403, 422, 429, 503)
)
CaseId = Annotated[str, Path(min_length=1, max_length=64)]
WithMissing = problem_responses(404, 409)


@router.get("/cases", summary="Cases, most recently changed first")
def list_cases(
    principal: Reader,
    services: ServicesDep,
    status: Annotated[list[CaseStatus] | None, Query(max_length=4)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> CaseList:
    return services.cases.find(status=status, limit=limit, cursor=cursor)


@router.post(
    "/cases",
    status_code=status.HTTP_201_CREATED,
    summary="Open a case from one or many alerts",
    responses=WithMissing,
)
def create(body: CaseCreate, principal: CaseWorker, services: ServicesDep) -> CasePublic:
    return services.cases.create(principal, body)


@router.get("/cases/{case_id}", summary="One case", responses=problem_responses(404))
def get(case_id: CaseId, principal: Reader, services: ServicesDep) -> CasePublic:
    return services.cases.get(case_id)


@router.patch("/cases/{case_id}", summary="Change a case", responses=WithMissing)
def update(
    case_id: CaseId, body: CaseUpdate, principal: CaseWorker, services: ServicesDep
) -> CasePublic:
    return services.cases.update(principal, case_id, body)


@router.post("/cases/{case_id}/alerts", summary="Add alerts to a case", responses=WithMissing)
def add_alerts(
    case_id: CaseId, body: CaseAlerts, principal: CaseWorker, services: ServicesDep
) -> CasePublic:
    return services.cases.add_alerts(principal, case_id, body.alert_ids)


@router.post(
    "/cases/{case_id}/merge", summary="Merge other cases into this one", responses=WithMissing
)
def merge(
    case_id: CaseId, body: CaseMerge, principal: CaseWorker, services: ServicesDep
) -> CasePublic:
    return services.cases.merge(principal, case_id, body.case_ids)


@router.post(
    "/cases/{case_id}/comments",
    status_code=status.HTTP_201_CREATED,
    summary="Comment on a case",
    responses=problem_responses(404),
)
def comment(
    case_id: CaseId, body: CaseCommentCreate, principal: CaseWorker, services: ServicesDep
) -> CaseComment:
    return services.cases.comment(principal, case_id, body.text)


@router.get(
    "/cases/{case_id}/history", summary="Every change to a case", responses=problem_responses(404)
)
def history(
    case_id: CaseId,
    principal: Reader,
    services: ServicesDep,
    after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    services.cases.get(case_id)
    return services.audit.query(object_type="case", object_id=case_id, after=after, limit=limit)

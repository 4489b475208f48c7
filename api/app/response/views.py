"""Routes: playbooks, runs (start, dry-run, cancel, retry or skip a step, history) and approvals
(pending ones and for whom, approve or decline with a comment).

Who may decide an approval is the playbook's business (its step names roles or users); the
routes let people who act on incidents in (admin, analyst, responder: a user an approval names
needs one of these roles too), and the service refuses anyone the step does not name with a 403
that says whom it needs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from alerts.model import Alert
from api.app.auth.principal import Principal
from api.app.auth.roles import ADMIN, RESPONDER, Role
from api.app.deps import CaseWorker, Reader, ServicesDep, allow
from api.app.errors import Conflict, Forbidden, InvalidRequest, Missing
from api.app.problems import problem_responses
from api.app.response.models import (
    ApprovalList,
    Comment,
    PlaybookList,
    PlaybookProblem,
    PlaybookSummary,
    RunCreate,
    RunHistory,
    RunList,
)
from api.app.response.service import ResponseApi
from api.app.services import Services
from cityshield.errors import ActionError, NotFoundError
from response.approvals import ApprovalError
from response.models import ApprovalRecord, RunDetail, RunState

router = APIRouter(
    prefix="/api/v1/response",
    tags=["response"],
    responses=problem_responses(400, 401, 403, 422, 429, 503),
)
#: Cancelling a run or retrying a step changes what happens to the city's systems.
Responder = Annotated[Principal, allow(ADMIN, RESPONDER)]
RunId = Annotated[str, Path(min_length=1, max_length=64)]
StepKey = Annotated[str, Path(min_length=1, max_length=80)]
ApprovalId = Annotated[str, Path(min_length=1, max_length=64)]
WithMissing = problem_responses(404, 409)


def _api(services: Services) -> ResponseApi:
    found = services.extra.get("response")
    assert isinstance(found, ResponseApi)
    return found


def _refusal(exc: ApprovalError) -> Exception:
    if exc.kind == "forbidden":
        return Forbidden(exc.message)
    return Conflict(exc.message)


@router.get("/playbooks", summary="The playbooks, and files that did not load")
def playbooks(principal: Reader, services: ServicesDep) -> PlaybookList:
    api = _api(services)
    items = [
        PlaybookSummary.model_validate(p.model_dump(mode="json", by_alias=True))
        for p in sorted(api.service.playbooks.values(), key=lambda p: p.id)
    ]
    problems = [PlaybookProblem(**vars(i)) for i in api.issues]
    return PlaybookList(items=items, problems=problems)


@router.post(
    "/runs",
    status_code=status.HTTP_201_CREATED,
    summary="Start a run (or a dry run)",
    responses=problem_responses(404),
)
def start(body: RunCreate, principal: CaseWorker, services: ServicesDep) -> RunDetail:
    api = _api(services)
    alert: Alert | None = None
    if body.alert_id is not None:
        try:
            alert = services.store.get_alert(body.alert_id)
        except NotFoundError:
            raise Missing(f"no alert with id {body.alert_id!r}") from None
    case = None
    if body.case_id is not None:  # its fields fill templates ({{ case.title }}); 404 if absent
        case = api.desk.get_case(body.case_id)
    try:
        api.service.playbook(body.playbook_id)
        run_id = api.service.start(
            body.playbook_id,
            actor=principal.name,
            role=principal.role.value,
            alert=alert,
            inputs=body.inputs,
            dry_run=body.dry_run,
            case=case,
        )
    except NotFoundError as exc:
        raise Missing(exc.message) from None
    except ActionError as exc:
        raise InvalidRequest(exc.message, where="inputs") from None
    return api.service.detail(run_id)


@router.get("/runs", summary="Runs, newest first")
def runs(
    principal: Reader,
    services: ServicesDep,
    state: RunState | None = None,
    playbook_id: Annotated[str | None, Query(max_length=64)] = None,
    alert_id: Annotated[str | None, Query(max_length=200)] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> RunList:
    found = _api(services).service.store.runs(
        state=state, playbook_id=playbook_id, alert_id=alert_id, case_id=case_id, limit=limit
    )
    return RunList(items=found)


@router.get(
    "/runs/{run_id}",
    summary="A run: every step's inputs, result, error and timing",
    responses=problem_responses(404),
)
def run(run_id: RunId, principal: Reader, services: ServicesDep) -> RunDetail:
    return _api(services).service.detail(run_id)


@router.get(
    "/runs/{run_id}/history",
    summary="Everything that happened to a run, and who did it",
    responses=problem_responses(404),
)
def history(run_id: RunId, principal: Reader, services: ServicesDep) -> RunHistory:
    api = _api(services)
    api.service.store.run_row(run_id)
    return RunHistory(items=api.service.store.events(run_id))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run", responses=WithMissing)
def cancel(run_id: RunId, body: Comment, principal: Responder, services: ServicesDep) -> RunDetail:
    try:
        return _api(services).service.cancel(
            run_id, actor=principal.name, role=principal.role.value, comment=body.comment
        )
    except ApprovalError as exc:
        raise _refusal(exc) from None


@router.post(
    "/runs/{run_id}/steps/{step_key}/retry",
    summary="Run a failed or unknown step again",
    responses=WithMissing,
)
def retry(
    run_id: RunId, step_key: StepKey, body: Comment, principal: Responder, services: ServicesDep
) -> RunDetail:
    try:
        return _api(services).service.retry(
            run_id, step_key, actor=principal.name, role=principal.role.value
        )
    except ApprovalError as exc:
        raise _refusal(exc) from None


@router.post(
    "/runs/{run_id}/steps/{step_key}/skip",
    summary="Go on without a failed or unknown step",
    responses=WithMissing,
)
def skip(
    run_id: RunId, step_key: StepKey, body: Comment, principal: Responder, services: ServicesDep
) -> RunDetail:
    try:
        return _api(services).service.skip(
            run_id, step_key, actor=principal.name, role=principal.role.value, comment=body.comment
        )
    except ApprovalError as exc:
        raise _refusal(exc) from None


@router.get("/approvals", summary="Pending approvals: why each run waits, and for whom")
def approvals(
    principal: Reader,
    services: ServicesDep,
    mine: Annotated[bool, Query(description="only those I may decide")] = False,
) -> ApprovalList:
    service = _api(services).service
    if mine:
        return ApprovalList(items=service.pending(actor=principal.name, role=principal.role.value))
    return ApprovalList(items=service.pending())


def _decide(
    approval_id: str, body: Comment, principal: Principal, services: Services, approve: bool
) -> ApprovalRecord:
    if principal.role is Role.SENSOR:
        raise Forbidden("sensors decide nothing")
    try:
        return _api(services).service.decide(
            approval_id,
            actor=principal.name,
            role=principal.role.value,
            approve=approve,
            comment=body.comment,
        )
    except ApprovalError as exc:
        raise _refusal(exc) from None


@router.post(
    "/approvals/{approval_id}/approve",
    summary="Approve (if the step names your role)",
    responses=WithMissing,
)
def approve(
    approval_id: ApprovalId, body: Comment, principal: CaseWorker, services: ServicesDep
) -> ApprovalRecord:
    return _decide(approval_id, body, principal, services, True)


@router.post(
    "/approvals/{approval_id}/decline", summary="Decline, with a comment", responses=WithMissing
)
def decline(
    approval_id: ApprovalId, body: Comment, principal: CaseWorker, services: ServicesDep
) -> ApprovalRecord:
    return _decide(approval_id, body, principal, services, False)

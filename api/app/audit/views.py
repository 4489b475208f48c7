"""Route: the audit log, for admins and auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.app.audit.models import AuditPage
from api.app.deps import Overseer, ServicesDep
from api.app.problems import problem_responses

router = APIRouter(
    prefix="/api/v1", tags=["audit"], responses=problem_responses(400, 401, 403, 422, 429, 503)
)
Text = Annotated[str | None, Query(max_length=200)]


@router.get("/audit", summary="The audit log, oldest first, in pages")
def audit(
    principal: Overseer,
    services: ServicesDep,
    object_type: Text = None,
    object_id: Text = None,
    actor: Text = None,
    action: Text = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    after: Annotated[int | None, Query(ge=0, description="From next_after")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    return services.audit.query(
        object_type=object_type, object_id=object_id, actor=actor, action=action,
        since=since, until=until, after=after, limit=limit,
    )  # fmt: skip

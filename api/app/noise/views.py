"""Routes: suppressions and thresholds (with a preview), aggregation keys per rule."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from fastapi.responses import Response

from api.app.auth.principal import Principal
from api.app.auth.roles import READERS, SENSOR
from api.app.deps import Analyst, Reader, ServicesDep, allow
from api.app.noise.models import (
    AggregationRule,
    AggregationRulePublic,
    SuppressionCreate,
    SuppressionPreview,
    SuppressionPublic,
)
from api.app.problems import problem_responses

router = APIRouter(
    prefix="/api/v1", tags=["noise"], responses=problem_responses(400, 401, 403, 422, 429, 503)
)
RulePath = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/suppressions", summary="Suppressions and thresholds with their counters")
def list_suppressions(
    principal: Reader,
    services: ServicesDep,
    deleted: Annotated[bool, Query(description="Include deleted ones")] = False,
) -> list[SuppressionPublic]:
    return services.noise.all(include_deleted=deleted)


@router.post(
    "/suppressions/preview",
    summary="How many stored alerts a suppression would match (nothing is saved)",
)
def preview(
    body: SuppressionCreate, principal: Analyst, services: ServicesDep
) -> SuppressionPreview:
    return services.noise.preview(body)


@router.post("/suppressions", status_code=status.HTTP_201_CREATED, summary="Add a suppression")
def create(body: SuppressionCreate, principal: Analyst, services: ServicesDep) -> SuppressionPublic:
    return services.noise.create(principal, body)


@router.get(
    "/suppressions/{suppression_id}", summary="One suppression", responses=problem_responses(404)
)
def get(suppression_id: str, principal: Reader, services: ServicesDep) -> SuppressionPublic:
    return services.noise.get(suppression_id)


@router.delete(
    "/suppressions/{suppression_id}",
    summary="Delete a suppression (its counters stay readable)",
    responses=problem_responses(404),
)
def delete(suppression_id: str, principal: Analyst, services: ServicesDep) -> SuppressionPublic:
    return services.noise.delete(principal, suppression_id)


@router.get("/aggregation", summary="Aggregation keys set per rule")
def aggregation(
    principal: Annotated[Principal, allow(*READERS, SENSOR)], services: ServicesDep
) -> list[AggregationRulePublic]:
    """Sensors read them too: their own detection pipelines aggregate with these keys."""
    return services.noise.aggregation_rules()


@router.put("/aggregation/{rule_id}", summary="Set the aggregation keys of a rule")
def set_aggregation(
    rule_id: RulePath, body: AggregationRule, principal: Analyst, services: ServicesDep
) -> AggregationRulePublic:
    """Takes effect for detection started after the change (``analyze`` runs, sensors that
    reload their configuration)."""
    return services.noise.set_aggregation(principal, rule_id, body)


@router.delete(
    "/aggregation/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Back to the rule's default aggregation keys",
    responses=problem_responses(404),
)
def delete_aggregation(rule_id: RulePath, principal: Analyst, services: ServicesDep) -> Response:
    services.noise.delete_aggregation(principal, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

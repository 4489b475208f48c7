"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Security
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api.app.auth.roles import OVERSEERS
from api.app.deps import ServicesDep, authenticate, get_services
from api.app.problems import problem_responses
from api.app.services import Services
from cityshield.errors import CityShieldError, NotFoundError

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


@router.get("/healthz", summary="Liveness: the process answers", openapi_extra={"security": []})
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: the databases answer and ingest is running",
    responses={503: {"model": Health, "description": "Not ready"}},
    openapi_extra={"security": []},
)
def readyz(services: ServicesDep) -> JSONResponse:
    checks = {
        "service_db": _check(services.db.ping),
        "alert_store": _check(lambda: _probe_store(services)),
        "ingest": "ok" if services.ingest.running else "stopped",
    }
    ready = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def _probe_store(services: Services) -> None:
    # A lookup by id that finds nothing: cheap on every store, unlike a count over millions.
    try:
        services.store.get_alert("readiness-probe")
    except NotFoundError:
        return


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except CityShieldError as exc:
        return f"failed: {type(exc).__name__}"
    return "ok"


def metrics_route(public: bool) -> APIRouter:
    """``/metrics``: for admins and auditors, or anyone when ``metrics_public`` is set."""
    metrics_router = APIRouter(tags=["health"])
    guard = [] if public else [Security(authenticate, scopes=[r.value for r in OVERSEERS])]

    @metrics_router.get(
        "/metrics",
        summary="Prometheus metrics",
        dependencies=guard,
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
            **problem_responses(401, 403, 429),
        },
        openapi_extra={"security": []} if public else None,
    )
    def metrics(services: Annotated[Services, Depends(get_services)]) -> Response:
        return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics_router

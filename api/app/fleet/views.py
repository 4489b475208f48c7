"""Routes: the fleet view, enrolment and revocation (admins), heartbeats and ingest (sensors)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from api.app.auth.models import TokenIssued
from api.app.deps import Admin, Reader, SensorCaller, ServicesDep
from api.app.errors import Unavailable
from api.app.fleet.batch import IngestBatch, IngestResult
from api.app.fleet.ingest import decode_body
from api.app.fleet.models import (
    FleetView,
    HeartbeatStats,
    SensorEnrol,
    SensorEnrolled,
    SensorPublic,
)
from api.app.problems import problem_responses

router = APIRouter(prefix="/api/v1", responses=problem_responses(400, 401, 403, 422, 429))
INGEST_PATH = "/api/v1/ingest"
#: How long a sensor's request waits for its batch to be stored before a 503.
INGEST_TIMEOUT_SECONDS = 60.0


@router.get("/sensors", tags=["sensors"], summary="The fleet: every sensor and its health")
def fleet(principal: Reader, services: ServicesDep) -> FleetView:
    return services.fleet.view()


@router.post(
    "/sensors",
    status_code=status.HTTP_201_CREATED,
    tags=["sensors"],
    summary="Enrol a sensor; its credential is in the answer, once",
    responses=problem_responses(409),
)
def enrol(body: SensorEnrol, principal: Admin, services: ServicesDep) -> SensorEnrolled:
    return services.fleet.enrol(principal, body.name, body.description)


@router.get(
    "/sensors/{sensor_id}",
    tags=["sensors"],
    summary="One sensor",
    responses=problem_responses(404),
)
def sensor(sensor_id: str, principal: Reader, services: ServicesDep) -> SensorPublic:
    return services.fleet.get(sensor_id)


@router.post(
    "/sensors/{sensor_id}/revoke",
    tags=["sensors"],
    summary="Revoke a sensor and its credentials",
    responses=problem_responses(404),
)
def revoke(sensor_id: str, principal: Admin, services: ServicesDep) -> SensorPublic:
    return services.fleet.revoke(principal, sensor_id)


@router.post(
    "/sensors/{sensor_id}/credential",
    status_code=status.HTTP_201_CREATED,
    tags=["sensors"],
    summary="A new credential for a sensor (the old ones stop working)",
    responses=problem_responses(404, 409),
)
def rotate(sensor_id: str, principal: Admin, services: ServicesDep) -> TokenIssued:
    return services.fleet.rotate(principal, sensor_id)


@router.post("/sensors/heartbeat", tags=["sensors"], summary="A sensor reports its stats")
def heartbeat(body: HeartbeatStats, principal: SensorCaller, services: ServicesDep) -> SensorPublic:
    return services.fleet.heartbeat(principal, body)


@router.post(
    "/ingest",
    tags=["sensors"],
    summary="A sensor pushes a batch of flows and alerts (idempotent by batch id, gzip allowed)",
    responses=problem_responses(409, 413, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}
            },
            "description": "An ingest batch; may be sent with `Content-Encoding: gzip`.",
        }
    },
)
async def ingest(request: Request, principal: SensorCaller, services: ServicesDep) -> IngestResult:
    """See ``api.app.fleet.batch`` for the batch format and its limits."""
    body = await request.body()
    encoding = request.headers.get("content-encoding")
    batch, digest = await run_in_threadpool(decode_body, body, encoding, services.settings)
    assert principal.sensor_id is not None
    name = await run_in_threadpool(services.fleet.name_of, principal.sensor_id)
    future = services.ingest.submit(principal, name, batch, digest)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(future), INGEST_TIMEOUT_SECONDS)
    except TimeoutError:
        # The writer may still store it; sending the batch again is safe (idempotent batch id).
        raise Unavailable("ingest is slow; send the batch again later", retry_after=5) from None


#: Referenced by the ingest route's hand-written request body (it reads the body itself to
#: decompress it within bounds), so the schema must be in the document.
EXTRA_SCHEMAS = (IngestBatch,)

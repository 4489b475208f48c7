"""Routes: sensors upload an alert's packets; analysts download them and read the dissection."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from api.app.deps import Reader, SensorCaller, ServicesDep
from api.app.errors import Unavailable
from api.app.evidence.dissect import DissectError, dissect
from api.app.evidence.files import EvidenceFiles, evidence_dir
from api.app.evidence.service import EvidenceService, UploadStatus
from api.app.problems import problem_responses
from api.app.services import Services

router = APIRouter(prefix="/api/v1", responses=problem_responses(400, 401, 403, 404, 422))
UPLOAD_PATH = "/api/v1/evidence"
#: Largest pcap a sensor may upload for one alert (the body limit of ``UPLOAD_PATH``).
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
PCAP_TYPE = "application/vnd.tcpdump.pcap"


def evidence_service(services: Services) -> EvidenceService:
    files = services.extra.get("evidence_files")
    if not isinstance(files, EvidenceFiles):
        files = EvidenceFiles(evidence_dir(services.settings.service_db))
        services.extra["evidence_files"] = files
    return EvidenceService(files, services.store, services.fleet)


@router.put(
    "/evidence",
    tags=["sensors"],
    summary="A sensor uploads the packets of one of its alerts (pcap body)",
    openapi_extra={
        # Any content type is read as the raw capture; octet-stream is what generic clients send.
        "requestBody": {
            "required": False,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
    },
)
async def upload(
    request: Request,
    principal: SensorCaller,
    services: ServicesDep,
    alert_id: Annotated[str, Query(max_length=128)],
    status: Annotated[UploadStatus, Query()],
    detail: Annotated[str, Query(max_length=500)] = "",
    oldest_ns: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, object]:
    body = await request.body()
    assert principal.sensor_id is not None
    sensor_id = principal.sensor_id
    svc = evidence_service(services)
    return await run_in_threadpool(svc.upload, sensor_id, alert_id, body, status, detail, oldest_ns)


@router.get(
    "/alerts/{alert_id}/packets",
    tags=["alerts"],
    summary="The packets of an alert's flows as a pcap download (or why there are none)",
    response_class=FileResponse,
    responses={200: {"content": {PCAP_TYPE: {}}}},
)
def packets(alert_id: str, principal: Reader, services: ServicesDep) -> Response:
    found = evidence_service(services).packets(alert_id)
    return FileResponse(
        found.path,
        media_type=PCAP_TYPE,
        filename=f"alert-{alert_id}.pcap",
        headers={"X-Evidence-Status": found.status},
    )


@router.get(
    "/alerts/{alert_id}/dissection",
    tags=["alerts"],
    summary="tshark's full dissection of an alert's packets (text as in Wireshark, or JSON)",
    response_class=PlainTextResponse,
    responses=problem_responses(503),
)
def dissection(
    alert_id: str,
    principal: Reader,
    services: ServicesDep,
    format: Annotated[Literal["text", "json"], Query()] = "text",
    max_packets: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    found = evidence_service(services).packets(alert_id)
    try:
        result = dissect(found.path, format, max_packets=max_packets)
    except DissectError as exc:
        raise Unavailable(str(exc), retry_after=60) from None
    media = "application/json" if format == "json" else "text/plain; charset=utf-8"
    headers = {"X-Evidence-Status": found.status}
    if result.truncated:
        headers["X-Truncated"] = "true"
    return Response(result.output, media_type=media, headers=headers)

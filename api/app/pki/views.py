"""Routes: check a chain (JSON, or a PEM/DER/PKCS#7 file as the body) or a live endpoint, and
keep the credential registry (list, add, remove, revoke, scan).

Checks are for the SOC's analysts and responders; the registry is read by anyone of the SOC and
changed by admins and responders, who run the emergency playbooks that revoke credentials.
Routes that check are plain ``def`` (the checker blocks: network I/O, ``asyncio.run`` inside), so
FastAPI runs them in its thread pool; the upload reads its body first, then does the same.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from api.app.auth.principal import Principal
from api.app.auth.roles import ADMIN, ANALYST, RESPONDER
from api.app.deps import Reader, ServicesDep, allow
from api.app.pki.service import ScanResult
from api.app.problems import problem_responses
from pki.hostname import HostName
from pki.model import Profile, Purpose, RevocationMode, Verdict
from pki.registry_model import (
    CredentialCreate,
    CredentialStatus,
    RegisteredCredential,
    Revocation,
    RevokeRequest,
)
from pki.service import ChainCheckRequest, EndpointCheckRequest

router = APIRouter(
    prefix="/api/v1/pki", tags=["pki"], responses=problem_responses(400, 401, 403, 422, 429, 503)
)
#: Who may run checks: a check changes nothing, but may make the service connect out.
Checker = Annotated[Principal, allow(ADMIN, ANALYST, RESPONDER)]
#: Who may change the registry: admins, and responders (revocation is a playbook action).
Keeper = Annotated[Principal, allow(ADMIN, RESPONDER)]
CredentialId = Annotated[str, Path(min_length=1, max_length=64)]
#: Media types of a certificate file as the body of ``/checks/upload``.
UPLOAD_TYPES = (
    "application/pkix-cert",
    "application/x-pem-file",
    "application/pkcs7-mime",
    "application/octet-stream",
)
_BINARY = {"type": "string", "format": "binary"}


@router.post("/checks/chain", summary="Check a chain given as PEM text or base64 DER")
def check_chain(body: ChainCheckRequest, principal: Checker, services: ServicesDep) -> Verdict:
    return services.pki.check_chain(body)


@router.post(
    "/checks/upload",
    summary="Check a chain sent as the body: PEM, DER or PKCS#7 (leaf first)",
    responses=problem_responses(413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": _BINARY} for t in UPLOAD_TYPES},
        }
    },
)
async def check_upload(
    request: Request,
    principal: Checker,
    services: ServicesDep,
    purpose: Purpose = Purpose.TLS_SERVER,
    profile: Profile | None = None,
    revocation: RevocationMode | None = None,
    host: Annotated[HostName | None, Query(max_length=253, description="Name to match")] = None,
    at: Annotated[AwareDatetime | None, Query(description="Validation time")] = None,
) -> Verdict:
    data = await request.body()  # bounded by the app's body limit
    return await run_in_threadpool(
        services.pki.check_upload,
        data,
        purpose=purpose,
        profile=profile,
        revocation=revocation,
        host=host,
        at=at,
    )


@router.post("/checks/endpoint", summary="Connect to host:port and check the chain it sends")
def check_endpoint(
    body: EndpointCheckRequest, principal: Checker, services: ServicesDep
) -> Verdict:
    return services.pki.check_endpoint(body)


@router.get("/registry", summary="Registered credentials, by system")
def list_credentials(
    principal: Reader,
    services: ServicesDep,
    system: Annotated[str | None, Query(max_length=200)] = None,
    status: CredentialStatus | None = None,
) -> list[RegisteredCredential]:
    return services.pki.credentials(system, status)


@router.post(
    "/registry",
    status_code=status.HTTP_201_CREATED,
    summary="Register a credential (its certificate, or the endpoint to take it from)",
    responses=problem_responses(409),
)
def add_credential(
    body: CredentialCreate, principal: Keeper, services: ServicesDep
) -> RegisteredCredential:
    return services.pki.add(principal, body)


@router.post(
    "/registry/scan",
    summary="Check every registered endpoint and expiry now; the alerts are stored",
)
def scan(principal: Keeper, services: ServicesDep) -> ScanResult:
    return services.pki.scan(principal)


@router.get(
    "/registry/{credential_id}",
    summary="One registered credential",
    responses=problem_responses(404),
)
def get_credential(
    credential_id: CredentialId, principal: Reader, services: ServicesDep
) -> RegisteredCredential:
    return services.pki.registry.get(credential_id)


@router.delete(
    "/registry/{credential_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Forget a credential (its revocations stay on the CRL)",
    responses=problem_responses(404),
)
def remove_credential(
    credential_id: CredentialId, principal: Keeper, services: ServicesDep
) -> Response:
    services.pki.remove(principal, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/registry/{credential_id}/revoke",
    summary="Revoke the credential's certificate and publish the city CA's new CRL",
    responses=problem_responses(404, 409),
)
def revoke_credential(
    credential_id: CredentialId, body: RevokeRequest, principal: Keeper, services: ServicesDep
) -> Revocation:
    return services.pki.revoke(principal, credential_id, body)

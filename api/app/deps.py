"""``Annotated`` dependency aliases the routes use (as in full-stack-fastapi-template's deps.py).

``allow(*roles)`` is how every route declares who may call it: it authenticates the bearer token
and refuses other roles. The roles also become the route's OpenAPI security requirement
(``security: [{"bearer": ["admin", "analyst"]}]``, allowed by OpenAPI 3.1 for HTTP schemes),
which is where the role matrix test reads them.
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from api.app.auth.principal import Principal
from api.app.auth.roles import (
    ADMINS,
    ANALYSTS,
    CASE_WORKERS,
    OVERSEERS,
    PEOPLE,
    READERS,
    SENSORS,
    Role,
)
from api.app.errors import Forbidden, Unauthorized
from api.app.services import Services

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A CityShield token (`cs_<id>.<secret>`) from /api/v1/auth/login, an API token, "
    "or a sensor's credential from its enrolment.",
)


async def get_services(request: Request) -> Services:
    # ``async``: FastAPI runs a plain ``def`` dependency in its thread pool, a hop per request.
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(
    request: Request,
    scopes: SecurityScopes,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        services.metrics.auth_failures.labels("missing").inc()
        raise Unauthorized()
    try:
        principal = services.auth.authenticate(credentials.credentials, client_address(request))
    except Unauthorized:
        services.metrics.auth_failures.labels("token").inc()
        raise
    if principal.role.value not in scopes.scopes:
        services.metrics.auth_failures.labels("role").inc()
        raise Forbidden(f"the {principal.role.value} role may not do this")
    return principal


def allow(*roles: Role) -> Any:
    return Security(authenticate, scopes=[r.value for r in roles])


Reader = Annotated[Principal, allow(*READERS)]
Analyst = Annotated[Principal, allow(*ANALYSTS)]
CaseWorker = Annotated[Principal, allow(*CASE_WORKERS)]
Admin = Annotated[Principal, allow(*ADMINS)]
Overseer = Annotated[Principal, allow(*OVERSEERS)]
SensorCaller = Annotated[Principal, allow(*SENSORS)]
Person = Annotated[Principal, allow(*PEOPLE)]

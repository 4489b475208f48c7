"""Routes: log in and out, who am I, one's own API tokens, and users (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from api.app.auth.models import (
    LoginRequest,
    Me,
    TokenCreate,
    TokenIssued,
    TokenPublic,
    UserCreate,
    UserPublic,
)
from api.app.auth.principal import Principal
from api.app.auth.roles import Role
from api.app.deps import Admin, Person, ServicesDep, allow, client_address
from api.app.errors import Forbidden
from api.app.problems import problem_responses

router = APIRouter(prefix="/api/v1", responses=problem_responses(400, 401, 403, 422, 429))
Anyone = Annotated[Principal, allow(*Role)]


@router.post(
    "/auth/login",
    status_code=status.HTTP_201_CREATED,
    tags=["auth"],
    summary="Log in: a session token for the user name and password",
    openapi_extra={"security": []},
)
def login(body: LoginRequest, request: Request, services: ServicesDep) -> TokenIssued:
    """Failed logins are limited per user name and per client address (429 with Retry-After)."""
    return services.auth.login(body.username, body.password, client_address(request))


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], summary="Log out"
)
def logout(principal: Person, services: ServicesDep) -> Response:
    """Revokes the token this request was made with."""
    assert principal.token_id is not None
    services.auth.revoke_token(principal, principal.token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", tags=["auth"], summary="Who the credential belongs to")
def me(principal: Anyone) -> Me:
    return Me(
        name=principal.name,
        role=principal.role,
        token_id=principal.token_id,
        sensor_id=principal.sensor_id,
    )


@router.get("/tokens", tags=["auth"], summary="API tokens: one's own, or everyone's for admins")
def list_tokens(
    principal: Person,
    services: ServicesDep,
    everyone: Annotated[bool, Query(alias="all", description="Every user's (admins)")] = False,
) -> list[TokenPublic]:
    if everyone and principal.role is not Role.ADMIN:
        raise Forbidden("only admins list everyone's tokens")
    return services.auth.list_tokens(principal, everyone=everyone)


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    tags=["auth"],
    summary="A new API token with the caller's role (shown once)",
)
def create_token(body: TokenCreate, principal: Person, services: ServicesDep) -> TokenIssued:
    return services.auth.create_api_token(principal, body.name, body.days)


@router.delete(
    "/tokens/{token_id}",
    tags=["auth"],
    summary="Revoke a token (one's own; admins any)",
    responses=problem_responses(404),
)
def revoke_token(token_id: str, principal: Person, services: ServicesDep) -> TokenPublic:
    return services.auth.revoke_token(principal, token_id)


@router.get("/users", tags=["users"], summary="Users")
def list_users(principal: Admin, services: ServicesDep) -> list[UserPublic]:
    return services.auth.list_users()


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    tags=["users"],
    summary="Add a user",
    responses=problem_responses(409),
)
def add_user(body: UserCreate, principal: Admin, services: ServicesDep) -> UserPublic:
    return services.auth.add_user(principal, body.username, body.role, body.password)


@router.post(
    "/users/{username}/disable",
    tags=["users"],
    summary="Disable a user and revoke their tokens",
    responses=problem_responses(404),
)
def disable_user(username: str, principal: Admin, services: ServicesDep) -> UserPublic:
    return services.auth.disable_user(principal, username)

"""Schema families for users and tokens (``*Public`` out, ``*Create`` in, ``TokenIssued`` once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.app.auth.hashing import MAX_SECRET_LENGTH
from api.app.auth.roles import Role

UserName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", strip_whitespace=True)
]
Password = Annotated[str, StringConstraints(min_length=12, max_length=MAX_SECRET_LENGTH)]
TokenName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class UserPublic(BaseModel):
    id: int
    username: str
    role: Role
    created_at: datetime
    disabled: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"username": "ana", "role": "analyst", "password": "correct horse 42"}]
        },
    )

    username: UserName
    role: Role
    password: Password


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "ana", "password": "correct horse 42"}]},
    )

    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_SECRET_LENGTH)]


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "siem-export", "days": 90}]}
    )

    name: TokenName
    #: Days until it expires; at most the configured maximum.
    days: int = Field(default=90, ge=1, le=3650)


class TokenPublic(BaseModel):
    id: str
    kind: str
    name: str
    role: Role
    owner: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenIssued(TokenPublic):
    """A new token: ``token`` is shown this once and cannot be recovered (only its hash is kept)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "3f9c1e0a7b2d4c55",
                    "kind": "api",
                    "name": "siem-export",
                    "role": "analyst",
                    "owner": "ana",
                    "created_at": "2026-11-22T08:00:00Z",
                    "expires_at": "2027-02-20T08:00:00Z",
                    "revoked_at": None,
                    "last_used_at": None,
                    "token": "cs_3f9c1e0a7b2d4c55.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
                }
            ]
        }
    )

    token: str


class Me(BaseModel):
    name: str
    role: Role
    token_id: str | None
    sensor_id: str | None

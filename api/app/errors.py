"""Errors the service raises on purpose, each with the HTTP status it becomes.

``api.app.problems`` turns these (and the domain errors of the other packages) into
``application/problem+json`` in one place; routes and services never build responses for errors.
"""

from __future__ import annotations

from cityshield.errors import CityShieldError


class ServiceError(CityShieldError):
    status = 400
    title = "Bad request"

    def __init__(
        self, message: str, *, where: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, where=where)
        self.headers = headers or {}


class InvalidRequest(ServiceError):
    status = 422
    title = "Invalid request"


class Unauthorized(ServiceError):
    status = 401
    title = "Not authenticated"

    def __init__(self, message: str = "a valid bearer token is needed") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class Missing(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class TooLarge(ServiceError):
    status = 413
    title = "Request too large"


class TooMany(ServiceError):
    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})


class Unavailable(ServiceError):
    status = 503
    title = "Unavailable"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})

"""Errors as ``application/problem+json`` (RFC 9457), from this one place.

Every error a route can end in is turned into a ``Problem`` here: the service's own errors, the
other packages' domain errors, FastAPI's validation errors and HTTP errors, and anything
unexpected (500 without internals; the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.triage import TriageError
from api.app.errors import ServiceError
from cityshield.errors import CityShieldError, NotFoundError, StoreError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details; ``errors`` lists each invalid field of a request."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no alert with id '5f0c2b7a9e1d4c33'",
                    "instance": "/api/v1/alerts/5f0c2b7a9e1d4c33",
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem(
    request: Request,
    status: int,
    detail: str | None,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    title: str | None = None,
) -> JSONResponse:
    body = Problem(
        title=title or _TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


#: The problem responses every route may give, for the OpenAPI document.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": _TITLES.get(status, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(CityShieldError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return problem(request, exc.status, str(exc), headers=exc.headers, title=exc.title)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CityShieldError)
    if isinstance(exc, NotFoundError):
        return problem(request, 404, exc.message)
    if isinstance(exc, TriageError):
        return problem(request, 409, exc.message)
    if type(exc).__name__ in {"ConflictError", "VersionConflict"}:
        return problem(request, 409, exc.message)  # the store's optimistic-concurrency error
    if isinstance(exc, StoreError):
        # Where a store failed (a file path) is for the operator's log, not for the client.
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        return problem(request, 503, "the store is unavailable; try again later")
    log.error("error on %s %s: %s", request.method, request.url.path, exc)
    return problem(request, 400, exc.message)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
    return problem(request, 422, detail, errors=jsonable_encoder(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return problem(request, exc.status_code, str(exc.detail), headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(request, 500, "an unexpected error; it was logged")

"""``wait`` (a pause, e.g. before checking again) and ``http.request`` (to allow-listed hosts
only: redirects are not followed, so a listed host cannot send the request elsewhere)."""

from __future__ import annotations

import time
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, JsonValue, SecretStr, field_validator

from cityshield.errors import ActionError
from response.actions.base import Action, ActionContext, ActionParams, Result
from response.schema import seconds
from response.settings import HttpSettings


class WaitParams(ActionParams):
    seconds: int = Field(ge=0, le=86400)

    @field_validator("seconds", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> int:
        return seconds(value)


class WaitAction(Action):
    id = "wait"
    Params = WaitParams
    idempotent = True
    summary = "Pause the run"

    def plan(self, params: WaitParams) -> str:
        return f"wait {params.seconds}s"

    def run(self, params: WaitParams, ctx: ActionContext) -> Result:
        if params.seconds > ctx.timeout:
            raise ActionError(f"wait of {params.seconds}s is longer than the step's timeout")
        end = time.monotonic() + params.seconds
        while (left := end - time.monotonic()) > 0:
            if ctx.cancelled():
                raise ActionError("the run was cancelled while it waited")
            time.sleep(min(left, 0.25))
        return {"waited": params.seconds}


class HttpRequestParams(ActionParams):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: str = Field(max_length=2000, pattern=r"^https?://")
    json_body: JsonValue = Field(None, alias="json")
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    #: Sent as ``Authorization: Bearer ...``; kept out of the run record.
    bearer_token: SecretStr | None = None

    model_config = {"extra": "forbid", "frozen": True, "populate_by_name": True}


class HttpRequestAction(Action):
    id = "http.request"
    Params = HttpRequestParams
    idempotent = False
    summary = "Call an allow-listed HTTP API (a ticketing system, a hosting provider's abuse API)"

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self.allowed = {h.lower() for h in settings.allowed_hosts}

    def _check(self, params: HttpRequestParams) -> None:
        host = (urlsplit(params.url).hostname or "").lower()
        if host not in self.allowed:
            raise ActionError(
                f"host {host!r} is not on the allow-list ([response.http] allowed_hosts)"
            )

    def plan(self, params: HttpRequestParams) -> str:
        self._check(params)
        return f"{params.method} {params.url}"

    def run(self, params: HttpRequestParams, ctx: ActionContext) -> Result:
        self._check(params)
        headers = dict(params.headers)
        if params.bearer_token is not None:
            headers["Authorization"] = f"Bearer {params.bearer_token.get_secret_value()}"
        limit = self.settings.max_response_bytes
        try:
            with (
                httpx.Client(timeout=ctx.timeout, follow_redirects=False) as client,
                client.stream(
                    params.method,
                    params.url,
                    headers=headers,
                    json=params.json_body if params.method != "GET" else None,
                ) as response,
            ):
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        body = body[:limit]
                        break
        except httpx.HTTPError as exc:
            raise ActionError(f"{params.method} {params.url}: {exc}") from None
        if response.status_code >= 400:
            raise ActionError(f"{params.method} {params.url} answered {response.status_code}")
        return {"status": response.status_code, "body": body.decode("utf-8", "replace")}

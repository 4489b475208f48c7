"""The role matrix: every route, taken from the app itself, refuses a missing, malformed or
unknown credential and every role it does not allow, and lets the roles it allows through."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app.auth.roles import Role
from api.app.factory import PUBLIC_PATHS, api_routes
from tests.api.httpkit import Credentials

UNKNOWN_TOKEN = "cs_0123456789abcdef." + "A" * 43
BAD_HEADERS: dict[str, dict[str, str]] = {
    "missing": {},
    "unknown token": {"Authorization": f"Bearer {UNKNOWN_TOKEN}"},
    "not a token": {"Authorization": "Bearer hunter2"},
    "basic auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "empty bearer": {"Authorization": "Bearer "},
}


def operations(app: FastAPI) -> list[tuple[str, str, list[str] | None]]:
    """(method, path, roles) of every operation in the OpenAPI document; roles None = public."""
    ops = []
    for path, items in app.openapi()["paths"].items():
        for method, op in items.items():
            security = op.get("security")
            roles = None if security == [] else security[0]["bearer"]
            ops.append((method.upper(), path, roles))
    return ops


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{[^}]+\}", "x", path)
    body: Any = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, url, json=body, headers=headers).status_code


def test_every_route_is_in_the_document_and_declares_its_roles(api_app: FastAPI) -> None:
    documented = {(m, p) for m, p, _ in operations(api_app)}
    routed = {(method, path) for path, methods, _ in api_routes(api_app) for method in methods}
    assert routed == documented
    public = {p for _, p, roles in operations(api_app) if roles is None}
    assert public == {"/healthz", "/readyz", "/api/v1/auth/login"}
    assert public <= PUBLIC_PATHS
    assert len(documented) >= 40


def test_the_matrix(client: TestClient, creds: Credentials, api_app: FastAPI) -> None:
    problems = []
    checked = 0
    # Logging out revokes the token it is made with: last, so the others still have theirs.
    ops = sorted(operations(api_app), key=lambda op: op[1] == "/api/v1/auth/logout")
    for method, path, roles in ops:
        if roles is None:
            continue
        for label, headers in BAD_HEADERS.items():
            status = call(client, method, path, headers)
            if status != 401:
                problems.append(f"{method} {path} with {label} credential: {status}, not 401")
        for role in Role:
            status = call(client, method, path, creds.headers(role.value))
            checked += 1
            if role.value in roles and status in (401, 403):
                problems.append(f"{method} {path} refused allowed role {role.value}: {status}")
            if role.value not in roles and status != 403:
                problems.append(f"{method} {path} let {role.value} through: {status}, not 403")
    assert not problems, "\n".join(problems)
    protected = sum(1 for _, _, roles in ops if roles is not None)
    assert protected >= 35 and checked == protected * len(Role)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/v1/users", {"admin"}),
        ("POST", "/api/v1/sensors", {"admin"}),
        ("POST", "/api/v1/ingest", {"sensor"}),
        ("POST", "/api/v1/sensors/heartbeat", {"sensor"}),
        ("GET", "/api/v1/audit", {"admin", "auditor"}),
        ("GET", "/api/v1/alerts", {"admin", "analyst", "responder", "auditor"}),
        ("PATCH", "/api/v1/alerts/{alert_id}", {"admin", "analyst"}),
        ("POST", "/api/v1/cases", {"admin", "analyst", "responder"}),
        ("POST", "/api/v1/suppressions", {"admin", "analyst"}),
        ("GET", "/metrics", {"admin", "auditor"}),
        ("GET", "/api/v1/aggregation", {"admin", "analyst", "responder", "auditor", "sensor"}),
    ],
)
def test_the_policy_is_what_the_soc_agreed(
    api_app: FastAPI, method: str, path: str, allowed: set[str]
) -> None:
    """Spot checks of the policy itself (auditors only read; sensors only report)."""
    roles = {(m, p): r for m, p, r in operations(api_app)}
    assert set(roles[(method, path)] or ()) == allowed


def test_auditors_can_change_nothing(api_app: FastAPI) -> None:
    for method, path, roles in operations(api_app):
        if roles and "auditor" in roles and method != "GET":
            # Their own session and tokens are theirs to manage; nothing else.
            assert path.startswith(("/api/v1/auth/", "/api/v1/tokens")), (method, path)


def test_guessing_a_tokens_secret_is_limited(client: TestClient, creds: Credentials) -> None:
    token_id = creds.tokens["analyst"].split(".")[0]
    wrong = {"Authorization": f"Bearer {token_id}.{'B' * 43}"}
    for _ in range(5):
        assert client.get("/api/v1/auth/me", headers=wrong).status_code == 401
    limited = client.get("/api/v1/auth/me", headers=wrong)
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0

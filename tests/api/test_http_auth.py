"""Authentication: logins, tokens shown once and stored as argon2 hashes, revocation, expiry,
disabled users, the limit on failed logins, and secrets kept out of logs."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app.auth.limiter import FailureLimiter
from api.app.auth.principal import CLI
from api.app.auth.roles import Role
from cityshield.clock import FixedClock
from tests.api.httpkit import PASSWORD, Credentials

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_login_gives_a_session_token_that_works(client: TestClient, creds: Credentials) -> None:
    response = client.post(LOGIN, json={"username": "analyst", "password": PASSWORD})
    assert response.status_code == 201
    issued = response.json()
    assert issued["token"].startswith("cs_") and issued["kind"] == "session"
    me = client.get(ME, headers=bearer(issued["token"]))
    assert me.status_code == 200
    assert me.json() == {
        "name": "analyst",
        "role": "analyst",
        "token_id": issued["id"],
        "sensor_id": None,
    }


def test_user_names_are_case_insensitive_at_login(client: TestClient, creds: Credentials) -> None:
    response = client.post(LOGIN, json={"username": "ANALYST", "password": PASSWORD})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("username", "password"),
    [("analyst", "wrong password here"), ("nobody", PASSWORD), ("analyst", "x" * 2000)],
)
def test_a_failed_login_is_a_problem_that_does_not_say_which_part_was_wrong(
    client: TestClient, creds: Credentials, username: str, password: str
) -> None:
    response = client.post(LOGIN, json={"username": username, "password": password})
    assert response.status_code in (401, 422)
    assert response.headers["content-type"] == "application/problem+json"
    if response.status_code == 401:
        assert response.json()["detail"] == "wrong user name or password"


def test_failed_logins_are_limited_per_user(client: TestClient, creds: Credentials) -> None:
    for _ in range(5):
        assert (
            client.post(LOGIN, json={"username": "analyst", "password": "bad" * 5}).status_code
            == 401
        )
    limited = client.post(LOGIN, json={"username": "analyst", "password": PASSWORD})
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    # The address is limited too: guessing other users' passwords from it is refused as well.
    other = client.post(LOGIN, json={"username": "admin", "password": PASSWORD})
    assert other.status_code == 429


def test_the_limit_lifts_after_the_window_and_memory_stays_bounded() -> None:
    now = [0.0]
    limiter = FailureLimiter(5, 300, max_keys=100, monotonic=lambda: now[0])
    for _ in range(5):
        limiter.failed("user:x")
    assert limiter.retry_after("user:x") == 300
    now[0] = 200.0
    assert limiter.retry_after("user:x") == 100
    now[0] = 300.5
    assert limiter.retry_after("user:x") == 0
    for i in range(1000):
        limiter.failed(f"ip:{i}")
    assert len(limiter._failures) == 100


def test_tokens_are_stored_as_argon2_hashes_only(
    client: TestClient, creds: Credentials, tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "service.db") as db:
        rows = db.execute("SELECT secret_hash FROM tokens").fetchall()
        passwords = db.execute("SELECT password_hash FROM users").fetchall()
    assert rows and all(h.startswith("$argon2id$") for (h,) in rows)
    assert all(h.startswith("$argon2id$") for (h,) in passwords)
    secrets = [t.split(".", 1)[1] for t in creds.tokens.values()]
    dump = "\n".join(sqlite3.connect(tmp_path / "service.db").iterdump())
    assert not any(secret in dump for secret in secrets)
    assert PASSWORD not in dump


def test_api_tokens_are_shown_once_and_revocable(client: TestClient, creds: Credentials) -> None:
    made = client.post(
        "/api/v1/tokens", json={"name": "siem", "days": 7}, headers=creds.headers("analyst")
    )
    assert made.status_code == 201
    token = made.json()["token"]
    listed = client.get("/api/v1/tokens", headers=creds.headers("analyst")).json()
    assert {t["name"] for t in listed} == {"tests", "siem"}
    assert all("token" not in t for t in listed)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    revoked = client.delete(f"/api/v1/tokens/{made.json()['id']}", headers=creds.headers("analyst"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_nobody_revokes_someone_elses_token_but_an_admin(
    client: TestClient, creds: Credentials
) -> None:
    theirs = client.get("/api/v1/tokens", headers=creds.headers("auditor")).json()[0]["id"]
    assert (
        client.delete(f"/api/v1/tokens/{theirs}", headers=creds.headers("analyst")).status_code
        == 404
    )
    assert client.get(ME, headers=creds.headers("auditor")).status_code == 200
    assert (
        client.delete(f"/api/v1/tokens/{theirs}", headers=creds.headers("admin")).status_code == 200
    )
    assert client.get(ME, headers=creds.headers("auditor")).status_code == 401


def test_tokens_expire(client: TestClient, creds: Credentials, api_clock: FixedClock) -> None:
    session = client.post(LOGIN, json={"username": "responder", "password": PASSWORD}).json()
    assert client.get(ME, headers=bearer(session["token"])).status_code == 200
    api_clock.advance(timedelta(hours=12, seconds=1))
    assert client.get(ME, headers=bearer(session["token"])).status_code == 401
    # The 30-day API token made at the same time still works.
    assert client.get(ME, headers=creds.headers("responder")).status_code == 200


def test_logout_revokes_the_session(client: TestClient, creds: Credentials) -> None:
    token = client.post(LOGIN, json={"username": "admin", "password": PASSWORD}).json()["token"]
    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get(ME, headers=bearer(token)).status_code == 401


def test_a_disabled_user_is_locked_out_at_once(client: TestClient, creds: Credentials) -> None:
    response = client.post("/api/v1/users/analyst/disable", headers=creds.headers("admin"))
    assert response.status_code == 200 and response.json()["disabled"] is True
    assert client.get(ME, headers=creds.headers("analyst")).status_code == 401
    login = client.post(LOGIN, json={"username": "analyst", "password": PASSWORD})
    assert login.status_code == 401


def test_admins_add_users_and_every_change_is_audited(
    client: TestClient, creds: Credentials
) -> None:
    made = client.post(
        "/api/v1/users",
        json={"username": "rui", "role": "responder", "password": "a long enough pw"},
        headers=creds.headers("admin"),
    )
    assert made.status_code == 201 and made.json()["role"] == "responder"
    again = client.post(
        "/api/v1/users",
        json={"username": "RUI", "role": "analyst", "password": "a long enough pw"},
        headers=creds.headers("admin"),
    )
    assert again.status_code == 409
    short = client.post(
        "/api/v1/users",
        json={"username": "eve", "role": "analyst", "password": "short"},
        headers=creds.headers("admin"),
    )
    assert short.status_code == 422
    audit = client.get(
        "/api/v1/audit", params={"object_type": "user"}, headers=creds.headers("auditor")
    )
    entries = [(e["action"], e["object_id"], e["actor"]) for e in audit.json()["items"]]
    assert ("user.create", "rui", "admin") in entries
    assert ("user.create", "analyst", "cli") in entries
    assert all("password" not in str(e) for e in audit.json()["items"])


def test_sensors_are_not_users(api_app: FastAPI) -> None:
    from api.app.errors import Conflict

    with pytest.raises(Conflict):
        api_app.state.services.auth.add_user(CLI, "probe", Role.SENSOR, PASSWORD)


def test_secrets_never_reach_the_logs(
    client: TestClient, creds: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.post(LOGIN, json={"username": "analyst", "password": PASSWORD})
    client.post(LOGIN, json={"username": "analyst", "password": "the wrong one, logged?"})
    issued = client.post(
        "/api/v1/tokens", json={"name": "x"}, headers=creds.headers("admin")
    ).json()
    client.get(ME, headers=bearer(issued["token"] + "x"))
    text = caplog.text
    for secret in (PASSWORD, "the wrong one, logged?", issued["token"], *creds.tokens.values()):
        assert secret not in text
    assert "Bearer" not in text

"""``cityshield users add|list|revoke|token``: people and their credentials, on the server's own
service database (how the first admin gets in, before there is anyone to log in as)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from pydantic import TypeAdapter, ValidationError

from api.app.audit.log import AuditLog
from api.app.auth.hashing import SecretHasher
from api.app.auth.models import Password, UserName
from api.app.auth.principal import CLI
from api.app.auth.roles import Role
from api.app.auth.service import AuthService
from api.app.db import ServiceDatabase
from api.cli.common import ConfigOpt, JsonOpt, load, out, user_errors
from api.settings import Settings
from cityshield.clock import SystemClock
from cityshield.errors import ConfigError

app = typer.Typer(help="Users of the HTTP API and their tokens.", no_args_is_help=True)


def auth_service(settings: Settings) -> AuthService:
    api = settings.api
    db = ServiceDatabase(api.service_db)
    clock = SystemClock()
    hasher = SecretHasher(
        time_cost=api.argon2_time_cost,
        memory_kib=api.argon2_memory_kib,
        parallelism=api.argon2_parallelism,
    )
    return AuthService(db, AuditLog(db, clock), hasher, clock, api)


def _valid(adapter: TypeAdapter[str], value: str, what: str) -> str:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise ConfigError(exc.errors()[0]["msg"], where=what) from None


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[Role, typer.Option("--role", help="admin, analyst, responder or auditor.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (one line).")
    ] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add a user; the password is asked for (never an argument: it would stay in the history)."""
    with user_errors():
        settings = load(config)
        name = _valid(TypeAdapter(UserName), username, "user name")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        password = _valid(TypeAdapter(Password), password, "password")
        user = auth_service(settings).add_user(CLI, name, role, password)
    if json_out:
        out.print_json(user.model_dump_json())
    else:
        out.print(f"added {user.username} ({user.role.value})")


@app.command("list")
def list_users(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Users and their roles."""
    with user_errors():
        users = auth_service(load(config)).list_users()
    if json_out:
        out.print_json(json.dumps([u.model_dump(mode="json") for u in users]))
        return
    for u in users:
        state = "disabled" if u.disabled else "active"
        out.print(f"{u.username}\t{u.role.value}\t{state}\t{u.created_at.isoformat()}")


@app.command("revoke")
def revoke(
    username: Annotated[str, typer.Argument(help="The user to disable.")],
    config: ConfigOpt = None,
) -> None:
    """Disable a user and revoke all their tokens (the user stays in the audit trail)."""
    with user_errors():
        auth_service(load(config)).disable_user(CLI, username)
    out.print(f"disabled {username}; their tokens no longer work")


@app.command("token")
def token(
    username: Annotated[str, typer.Argument(help="Whose token.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "cli",
    days: Annotated[int, typer.Option("--days", min=1, max=3650)] = 30,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """A new API token for a user, printed once (only its hash is kept)."""
    with user_errors():
        issued = auth_service(load(config)).create_token_for(CLI, username, name, days)
    if json_out:
        out.print_json(issued.model_dump_json())
    else:
        # The token alone on stdout, so that `TOKEN=$(cityshield users token ana)` works.
        print(issued.token)

"""``cityshield serve``: the HTTP API under uvicorn, with TLS when a certificate is configured."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from api.app.auth.principal import CLI
from api.app.auth.roles import Role
from api.app.config import ApiSettings
from api.app.factory import create_app
from api.cli.common import ConfigOpt, err, load, user_errors
from api.cli.users import auth_service
from api.composition import build_pki_components, build_store
from api.settings import Settings
from cityshield.errors import ConfigError


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default: api.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: api.port.")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Default: api.workers.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs); stop with Ctrl-C."""
    with user_errors():
        settings = load(config)
        api = settings.api.model_copy(
            update={
                k: v
                for k, v in {"host": host, "port": port, "workers": workers}.items()
                if v is not None
            }
        )
        settings = settings.model_copy(update={"api": api})
        _check(api)
        _bootstrap(settings)
        options = _uvicorn_options(api, settings.log_level)
        if api.workers == 1:
            app = create_app(
                api,
                build_store(settings),
                close_on_shutdown=True,
                pki=build_pki_components(settings),
                response=settings.response,
            )
            uvicorn.run(app, **options)
            return
    # Several workers: each process builds its own app from the same settings.
    if config is not None:
        os.environ["CITYSHIELD_CONFIG"] = str(config)
    for key, value in (("HOST", api.host), ("PORT", api.port)):
        os.environ[f"CITYSHIELD_API__{key}"] = str(value)
    uvicorn.run("api.app.entry:app_from_environment", factory=True, workers=api.workers, **options)


def _check(api: ApiSettings) -> None:
    for path in (api.tls_cert, api.tls_key):
        if path is not None and not Path(path).is_file():
            raise ConfigError("TLS file not found", where=str(path))
    if not api.tls and not _loopback(api.host):
        if api.environment == "production":
            raise ConfigError(
                f"refusing plain HTTP on {api.host}: tokens would cross the network in clear. "
                "Set api.tls_cert and api.tls_key, bind to 127.0.0.1 behind a TLS proxy, or set "
                "api.environment = 'development'",
                where="api",
            )
        err.print(f"[yellow]warning:[/] plain HTTP on {api.host} (development only)")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bootstrap(settings: Settings) -> None:
    """Create ``api.bootstrap_admin`` when there are no users yet (first start of a container)."""
    api = settings.api
    if api.bootstrap_admin is None or api.bootstrap_admin_password is None:
        return
    auth = auth_service(settings)
    if auth.user_count() == 0:
        password = api.bootstrap_admin_password.get_secret_value()
        auth.add_user(CLI, api.bootstrap_admin, Role.ADMIN, password)
        err.print(f"created the first admin, {api.bootstrap_admin}")


def _uvicorn_options(api: ApiSettings, log_level: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "host": api.host,
        "port": api.port,
        "log_level": log_level.lower(),
        # Uvicorn's own limit on header size and keep-alive; bodies are limited by the app.
        "timeout_keep_alive": 30,
        "server_header": False,
    }
    if api.tls:
        options["ssl_certfile"] = str(api.tls_cert)
        options["ssl_keyfile"] = str(api.tls_key)
        if api.tls_key_password is not None:
            options["ssl_keyfile_password"] = api.tls_key_password.get_secret_value()
    return options

"""``cityshield pki registry add|list|remove|revoke|scan``: the city's registered credentials.

``scan`` runs one pass (every registered endpoint checked, every expiry threshold) and stores the
alerts it raises in the alert store; ``--every SECONDS`` repeats it, as a daemon does. Exit status:
0 done (for ``scan``: every endpoint valid), 4 a scanned endpoint is not valid or not reachable,
1 settings or a refused request, 2 an unreadable file or unreachable server, 3 the store.
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError
from rich.markup import escape
from rich.table import Table

from api.cli.common import (
    EXIT_CAPTURE,
    ConfigOpt,
    JsonOpt,
    err,
    fail,
    load,
    out,
    user_errors,
)
from api.cli.pki.check import EXIT_INVALID, host_port
from api.composition import (
    build_alert_filter,
    build_registry,
    build_store,
    open_service_db,
)
from api.settings import Settings
from cityshield.errors import ConfigError, DecodeError, StoreError
from detectors.credentials import registry_alerts
from pki.encoding import is_pem, read_bytes
from pki.model import Purpose
from pki.probe import ProbeError
from pki.registry import RegistryService
from pki.registry_model import (
    CredentialCreate,
    CredentialStatus,
    RegisteredCredential,
    RevocationReason,
    ScanReport,
)

app = typer.Typer(help="The city's registered credentials: expiry, changes, revocation.")

ActorOpt = Annotated[str, typer.Option("--actor", help="Who does it (kept in the registry).")]


@app.command("add")
def add(
    system: Annotated[str, typer.Option("--system", help="The e-government system.")],
    owner: Annotated[str, typer.Option("--owner", help="Who answers for it.")],
    certificate: Annotated[
        Path | None, typer.Argument(help="PEM/DER file (default: take it from --endpoint).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="HOST:PORT that serves it (scanned).")
    ] = None,
    server_name: Annotated[
        str | None, typer.Option("--server-name", help="Name clients ask for (default: HOST).")
    ] = None,
    purpose: Annotated[Purpose, typer.Option("--purpose")] = Purpose.TLS_SERVER,
    starttls: Annotated[
        bool, typer.Option("--smtp-starttls", help="The endpoint is SMTP: STARTTLS first.")
    ] = False,
    actor: ActorOpt = "cli",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a credential: a certificate file, or the one an endpoint serves."""
    with user_errors(), ExitStack() as stack:
        settings = load(config)
        fields: dict[str, Any] = {"system": system, "owner": owner, "purpose": purpose}
        try:
            if endpoint is not None:
                host, port = host_port(endpoint)
                fields |= {"host": host, "port": port, "server_name": server_name}
                fields["starttls"] = "smtp" if starttls else None
            if certificate is not None:
                data = read_bytes(certificate)
                if is_pem(data):
                    fields["pem"] = data.decode("ascii", "replace")
                else:
                    fields["der_base64"] = base64.b64encode(data).decode()
        except (DecodeError, ValueError) as exc:
            fail(str(exc), EXIT_CAPTURE)
        request = _validated(CredentialCreate, fields)
        registry = _open(settings, stack, create=True)
        try:
            credential = registry.add(request, by=actor)
        except (DecodeError, ProbeError) as exc:
            fail(str(exc), EXIT_CAPTURE)
    if as_json:
        _print_json(credential)
    else:
        out.print(f"registered [bold]{credential.id}[/] ({escape(credential.system)})")
        out.print(_table([credential]))


@app.command("list")
def list_credentials(
    system: Annotated[str | None, typer.Option("--system")] = None,
    status: Annotated[CredentialStatus | None, typer.Option("--status")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Registered credentials, by system."""
    with user_errors(), ExitStack() as stack:
        credentials = _open(load(config), stack).credentials(system=system, status=status)
    if as_json:
        out.print_json(json.dumps([c.model_dump(mode="json") for c in credentials]))
    elif not credentials:
        out.print("no registered credentials")
    else:
        out.print(_table(credentials))


@app.command("remove")
def remove(
    credential_id: Annotated[str, typer.Argument(help="The credential's id.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget a credential (its revocations stay on the CRL)."""
    with user_errors(), ExitStack() as stack:
        removed = _open(load(config), stack).remove(credential_id)
    if as_json:
        _print_json(removed)
    else:
        out.print(f"removed {removed.id} ({escape(removed.system)})")


@app.command("revoke")
def revoke(
    credential_id: Annotated[str, typer.Argument(help="The credential's id.")],
    reason: Annotated[RevocationReason, typer.Option("--reason")] = RevocationReason.UNSPECIFIED,
    actor: ActorOpt = "cli",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke the certificate a credential uses and publish the city CA's new CRL."""
    with user_errors(), ExitStack() as stack:
        done = _open(load(config), stack).revoke(credential_id, reason, by=actor)
    if as_json:
        _print_json(done)
        return
    state = "was revoked already" if done.already_revoked else "revoked"
    out.print(f"{escape(done.system)}: certificate {done.serial} {state} ({done.reason.value})")
    where = f", written to {escape(done.crl_path)}" if done.crl_path else " (no crl_path set)"
    out.print(f"CRL number {done.crl_number}, next update {done.crl_next_update:%Y-%m-%d %H:%M}"
              f" UTC{where}")  # fmt: skip


@app.command("scan")
def scan(
    every: Annotated[
        float | None, typer.Option("--every", min=1.0, help="Repeat every SECONDS (a daemon).")
    ] = None,
    passes: Annotated[
        int | None, typer.Option("--passes", min=1, help="With --every: stop after N passes.")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every registered endpoint and expiry; alerts go to the alert store."""
    with user_errors(), ExitStack() as stack:
        settings = load(config)
        registry = _open(settings, stack)
        done, clean = 0, True
        try:
            while True:
                started = time.monotonic()
                report = registry.scan()
                stored = _store_alerts(settings, report)
                clean = all(o.status in ("valid", "not_scanned") for o in report.outcomes)
                _show_scan(report, stored, as_json)
                done += 1
                if every is None or (passes is not None and done >= passes):
                    break
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            err.print(f"stopped after {done} passes")
            return
    if every is None and not clean:
        raise typer.Exit(EXIT_INVALID)


def _open(settings: Settings, stack: ExitStack, *, create: bool = False) -> RegistryService:
    path = settings.pki.registry.path
    if not create and path != ":memory:" and not Path(path).is_file():
        raise StoreError(
            "no credential registry here yet: `cityshield pki registry add` makes one",
            where=path,
        )
    registry = build_registry(settings)
    stack.callback(registry.store.close)
    return registry


def _store_alerts(settings: Settings, report: ScanReport) -> int:
    alerts = registry_alerts(report.events, observer=settings.sensor.name)
    if not alerts:
        return 0
    service_db = open_service_db(settings)  # suppressions set through the API apply here too
    if service_db is not None:
        try:
            alerts = build_alert_filter(service_db)(alerts)
        finally:
            service_db.close()
    with build_store(settings) as store:
        store.upsert_alerts(alerts)
    return len(alerts)


def _show_scan(report: ScanReport, stored: int, as_json: bool) -> None:
    if as_json:
        body = report.model_dump(mode="json", exclude={"events"})
        body["alerts"] = [
            {"kind": e.kind.value, "credential_id": e.credential.id, "message": e.message}
            for e in report.events
        ]
        body["alerts_stored"] = stored
        out.print(json.dumps(body), soft_wrap=True)
        return
    table = Table(box=None, pad_edge=False, title=f"scan at {report.at:%Y-%m-%d %H:%M:%S} UTC",
                  title_justify="left")  # fmt: skip
    table.add_column("id", no_wrap=True)
    for column in ("system", "endpoint", "status", "reasons / error"):
        table.add_column(column, overflow="fold")
    style = {"valid": "green", "invalid": "red", "unreachable": "yellow", "not_scanned": "dim"}
    for o in report.outcomes:
        table.add_row(
            o.credential_id, escape(o.system), escape(o.endpoint or "-"),
            f"[{style[o.status]}]{o.status}[/]", escape(", ".join(o.reasons) or o.error or ""),
        )  # fmt: skip
    out.print(table)
    for e in report.events:
        out.print(f"  [bold]alert[/] {e.kind.value}: {escape(e.credential.system)}: "
                  f"{escape(e.message)}")  # fmt: skip
    out.print(f"{len(report.events)} alerts, {stored} stored")


def _table(credentials: list[RegisteredCredential]) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("id", no_wrap=True)
    for column in ("system", "owner", "endpoint"):
        table.add_column(column, overflow="fold")
    table.add_column("expires (UTC)", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("last scan", overflow="fold")
    for c in credentials:
        status = "[red]revoked[/]" if c.status is CredentialStatus.REVOKED else "active"
        scan: str = c.last_scan or "-"
        if c.last_reasons:
            scan += f" ({', '.join(c.last_reasons)})"
        table.add_row(
            c.id, escape(c.system), escape(c.owner), escape(c.endpoint or c.purpose.value),
            f"{c.certificate.not_after:%Y-%m-%d}", status, escape(scan),
        )  # fmt: skip
    return table


def _validated(model: type[CredentialCreate], fields: dict[str, Any]) -> CredentialCreate:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "request"
        raise ConfigError(problem["msg"], where=f"--{where.replace('_', '-')}") from None


def _print_json(model: BaseModel) -> None:
    out.print_json(json.dumps(model.model_dump(mode="json")))

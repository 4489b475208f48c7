"""``cityshield playbooks validate|list|schema|run|runs|show|approve|decline|cancel|retry|skip|
engine``: playbooks from the terminal of the server.

The command line acts on the server's own databases (like ``cityshield users``): whoever runs it
can read them anyway, so ``--actor`` and ``--role`` name the person for the audit log and the
approval checks rather than prove who they are. ``run`` executes the run in this process when no
engine holds the run database (else the service's engine runs it); ``engine`` is the engine in
the foreground for cities that run playbooks without the HTTP API.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from alerts.model import Alert
from api.app.audit.log import AuditLog
from api.app.cases.service import CaseService
from api.app.db import ServiceDatabase
from api.app.evidence.files import EvidenceFiles, evidence_dir
from api.app.response.service import DEFAULT_PLAYBOOKS, ResponseApi, build_response_api
from api.cli.common import ConfigOpt, JsonOpt, err, load, out, user_errors
from api.composition import build_registry, build_store
from api.settings import Settings
from cityshield.clock import SystemClock
from cityshield.errors import ConfigError, NotFoundError
from response.actions.registry import action_types
from response.approvals import ApprovalError
from response.models import RunDetail, RunState
from response.schema import json_schema
from response.validation import validate_paths

app = typer.Typer(
    help="Emergency-response playbooks: validate, run, approve.", no_args_is_help=True
)

ActorOpt = Annotated[str, typer.Option("--actor", help="Who acts (for the audit log).")]
RoleOpt = Annotated[str, typer.Option("--role", help="Their role (approvals check it).")]
EXIT_PROBLEMS = 1


def _folder(settings: Settings) -> Path:
    return settings.response.playbooks_dir or DEFAULT_PLAYBOOKS


def _open(settings: Settings) -> ResponseApi:
    clock = SystemClock()
    db = ServiceDatabase(settings.api.service_db)
    store = build_store(settings, clock)
    audit = AuditLog(db, clock)
    registry = None
    if settings.pki.registry.path != ":memory:" and Path(settings.pki.registry.path).is_file():
        registry = build_registry(settings, clock=clock, lazy=True)
    return build_response_api(
        settings.response,
        store=store,
        audit=audit,
        cases=CaseService(db, store, audit, clock),
        clock=clock,
        revoker=registry,
        ring=None if settings.api.service_db == ":memory:" else _uploaded(settings),
    )


def _uploaded(settings: Settings) -> Callable[[str], Path | None]:
    """The packets sensors uploaded from their rings (the service's evidence files)."""
    files = EvidenceFiles(evidence_dir(settings.api.service_db))
    return files.pcap


def response_triggers(
    settings: Settings, stack: ExitStack
) -> Callable[[Sequence[Alert]], None] | None:
    """For ``analyze``: new alerts queue the runs of the playbooks they trigger, when this city
    uses playbooks (its run and service databases exist). The engine (the service's, or
    ``playbooks engine``) runs them; analysis never waits for actions."""
    r = settings.response
    if not r.auto_start or r.db == ":memory:" or not Path(r.db).is_file():
        return None
    if not Path(settings.api.service_db).is_file():
        return None
    api = _open(settings)
    stack.callback(api.service.store.close)

    def on_stored(alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            api.service.start_triggered(alert)

    return on_stored


def _show(detail: RunDetail, json_out: bool) -> None:
    if json_out:
        out.print_json(detail.model_dump_json())
        return
    out.print(
        f"run {detail.id}: [bold]{detail.state.value}[/] ({detail.playbook_id}"
        f"{', dry run' if detail.dry_run else ''})"
    )
    if detail.reason:
        out.print(escape(detail.reason))
    table = Table("step", "action", "state", "tries", "what", "error")
    for s in detail.steps:
        table.add_row(
            s.key,
            s.action or "approval",
            s.state.value,
            str(s.attempts),
            escape(s.plan or ""),
            escape(s.error or ""),
        )
    out.print(table)
    for a in detail.approvals:
        out.print(
            f"approval {a.id}: {a.state.value}, {a.approvals}/{a.required}, "
            f"expires {a.expires_at:%Y-%m-%d %H:%M:%S}Z"
        )


@app.command("validate")
def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders.")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check playbooks; every problem is listed with file, line and step (exit 1 if any)."""
    with user_errors():
        settings = load(config)
        targets = paths or [_folder(settings)]
        for target in targets:
            if not target.exists():
                raise ConfigError("no such file or folder", where=str(target))
        loaded, issues = validate_paths(targets, action_types())
    if json_out:
        out.print_json(
            json.dumps(
                {
                    "playbooks": [p.playbook.id for p in loaded],
                    "problems": [vars(i) for i in issues],
                }
            )
        )
    else:
        for issue in issues:
            err.print(escape(str(issue)), highlight=False)
        out.print(f"{len(loaded)} playbook(s) valid, {len(issues)} problem(s)")
    if issues:
        raise typer.Exit(EXIT_PROBLEMS)


@app.command("schema")
def schema() -> None:
    """The playbook format as JSON Schema (what playbooks/schema.json holds)."""
    print(json.dumps(json_schema(), indent=2, sort_keys=True))  # plain JSON, no console markup


@app.command("list")
def list_playbooks(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """The playbooks that load, with their triggers."""
    with user_errors():
        loaded, issues = validate_paths([_folder(load(config))], action_types())
    if json_out:
        out.print_json(
            json.dumps([p.playbook.model_dump(mode="json", by_alias=True) for p in loaded])
        )
        return
    table = Table("id", "name", "version", "triggers", "steps")
    for p in sorted(loaded, key=lambda p: p.playbook.id):
        pb = p.playbook
        triggers = ", ".join(f"{t.rule} >= {t.min_severity.value}" for t in pb.triggers)
        table.add_row(pb.id, escape(pb.name), str(pb.version), escape(triggers), str(len(pb.steps)))
    out.print(table)
    if issues:
        err.print(f"{len(issues)} problem(s): run `cityshield playbooks validate`")


def _inputs(pairs: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise ConfigError(f"{pair!r} is not NAME=VALUE", where="--input")
        found[name] = value
    return found


@app.command("run")
def run(
    playbook: Annotated[str, typer.Argument(help="Playbook id.")],
    alert: Annotated[str | None, typer.Option("--alert", help="The alert it is about.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="The case it is about.")] = None,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="NAME=VALUE (repeatable).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would happen; touch nothing.")
    ] = False,
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Start a run; it runs here unless the service's engine holds the run database."""
    with user_errors():
        settings = load(config)
        api = _open(settings)
        found: Alert | None = None
        if alert is not None:
            try:
                found = build_store(settings, SystemClock()).get_alert(alert)
            except NotFoundError:
                raise ConfigError(f"no alert {alert!r} in the store", where="--alert") from None
        run_id = api.service.start(
            playbook,
            actor=actor,
            role=role,
            alert=found,
            inputs=_inputs(inputs or []),
            dry_run=dry_run,
            case=None if case is None else api.desk.get_case(case),
        )
        if dry_run or api.worker.lock.acquire():
            api.service.engine.advance(run_id)
        elif not json_out:
            err.print("the service's engine holds the run database: it will run this run")
        _show(api.service.detail(run_id), json_out)


@app.command("runs")
def runs(
    state: Annotated[RunState | None, typer.Option("--state")] = None,
    playbook: Annotated[str | None, typer.Option("--playbook")] = None,
    alert: Annotated[str | None, typer.Option("--alert")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Runs, newest first."""
    with user_errors():
        found = _open(load(config)).service.store.runs(
            state=state, playbook_id=playbook, alert_id=alert, limit=limit
        )
    if json_out:
        out.print_json(json.dumps([r.model_dump(mode="json") for r in found]))
        return
    table = Table("run", "playbook", "state", "started by", "alert", "why")
    for r in found:
        table.add_row(
            r.id,
            r.playbook_id,
            r.state.value,
            escape(r.started_by),
            r.alert_id or "",
            escape(r.reason[:80]),
        )
    out.print(table)


@app.command("show")
def show(run_id: str, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """One run: every step's inputs, result, error and timing."""
    with user_errors():
        _show(_open(load(config)).service.detail(run_id), json_out)


def _decide(
    approval: str, comment: str, actor: str, role: str, config: Path | None, ok: bool
) -> None:
    with user_errors():
        api = _open(load(config))
        try:
            record = api.service.decide(
                approval, actor=actor, role=role, approve=ok, comment=comment
            )
        except ApprovalError as exc:
            raise ConfigError(exc.message, where=approval) from None
        out.print(
            f"approval {record.id}: {record.state.value} ({record.approvals}/{record.required})"
        )


CommentOpt = Annotated[str, typer.Option("--comment", help="Why.")]


@app.command("approve")
def approve(
    approval: str,
    comment: CommentOpt = "",
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
) -> None:
    """Approve a pending approval (if the step names this role or user)."""
    _decide(approval, comment, actor, role, config, True)


@app.command("decline")
def decline(
    approval: str,
    comment: CommentOpt = "",
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
) -> None:
    """Decline a pending approval."""
    _decide(approval, comment, actor, role, config, False)


def _human(
    action: str,
    run_id: str,
    step: str | None,
    comment: str,
    actor: str,
    role: str,
    config: Path | None,
    json_out: bool,
) -> None:
    with user_errors():
        service = _open(load(config)).service
        try:
            if action == "cancel":
                detail = service.cancel(run_id, actor=actor, role=role, comment=comment)
            elif action == "retry":
                detail = service.retry(run_id, str(step), actor=actor, role=role)
            else:
                detail = service.skip(run_id, str(step), actor=actor, role=role, comment=comment)
        except ApprovalError as exc:
            raise ConfigError(exc.message, where=run_id) from None
        _show(detail, json_out)


@app.command("cancel")
def cancel(
    run_id: str,
    comment: CommentOpt = "",
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Cancel a run (between steps; pending approvals are withdrawn)."""
    _human("cancel", run_id, None, comment, actor, role, config, json_out)


@app.command("retry")
def retry(
    run_id: str,
    step: str,
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a failed step, or one whose outcome is unknown, again (the engine picks it up)."""
    _human("retry", run_id, step, "", actor, role, config, json_out)


@app.command("skip")
def skip(
    run_id: str,
    step: str,
    comment: CommentOpt = "",
    actor: ActorOpt = "cli",
    role: RoleOpt = "admin",
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Go on without a failed or unknown step."""
    _human("skip", run_id, step, comment, actor, role, config, json_out)


@app.command("engine")
def engine(
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    config: ConfigOpt = None,
) -> None:
    """The engine in the foreground: resumes what a dead engine left, runs queued runs, follows
    decided and expired approvals. Stop with Ctrl-C or SIGTERM."""
    with user_errors():
        api = _open(load(config))
        worker = api.worker
        if once:
            if not worker.lock.acquire():
                raise ConfigError(
                    "another engine holds the run database", where=api.service.store.where
                )
            resumed = worker.recover()
            worker.step()
            worker.lock.release()
            out.print(f"resumed {len(resumed)} run(s); queued and waiting runs advanced")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        worker.start()
        stop.wait()
        api.stop()

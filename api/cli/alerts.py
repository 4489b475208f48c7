"""``cityshield alerts list|show|update``: triage from the terminal."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.markup import escape

from alerts.model import CloseReason, Severity, TriageStatus
from alerts.stores.base import AlertQuery
from alerts.triage import TriageError
from api.cli.common import ConfigOpt, JsonOpt, StoreOpt, load, open_existing_store, out, user_errors
from api.cli.render import alerts_table, kv_table
from api.cli.timespec import parse_time
from cityshield.errors import ConfigError

app = typer.Typer(help="List, show and triage alerts in the store.", no_args_is_help=True)


@app.command("list")
def list_alerts(
    severity: Annotated[
        list[Severity] | None, typer.Option("--severity", help="Only these (repeatable).")
    ] = None,
    min_severity: Annotated[
        Severity | None, typer.Option("--min-severity", help="This severity or worse.")
    ] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Rule id (repeatable).")] = None,
    ip: Annotated[
        str | None, typer.Option("--ip", help="Source or destination IP or CIDR.")
    ] = None,
    status: Annotated[
        list[TriageStatus] | None, typer.Option("--status", help="Triage status (repeatable).")
    ] = None,
    community_id: Annotated[str | None, typer.Option("--community-id")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Words in message or rule.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO time or 90m/12h/7d.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO time or 90m/12h/7d.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Next page (from --json).")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Alerts, most recent first, with the same filters as the API."""
    with user_errors():
        settings = load(config, store)
        try:
            query = AlertQuery(
                severities=severity, min_severity=min_severity, rule_ids=rule, ip=ip,
                statuses=status, community_id=community_id, text=text, start=parse_time(since),
                end=parse_time(until), limit=limit, cursor=cursor,
            )  # fmt: skip
        except ValidationError as exc:
            raise ConfigError(exc.errors()[0]["msg"], where="filters") from None
        with open_existing_store(settings) as s:
            page = s.query_alerts(query)
            total = s.count_alerts(query.model_copy(update={"cursor": None}))
    if json_out:
        out.print_json(
            json.dumps(
                {
                    "total": total,
                    "alerts": [a.to_ecs() for a in page.items],
                    "next_cursor": page.next_cursor,
                }
            )
        )
        return
    out.print(alerts_table(page.items, title=f"{total:,} alerts match"))
    if page.next_cursor:
        out.print(f"More: cityshield alerts list ... --cursor {page.next_cursor}")


@app.command("show")
def show(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One alert with its evidence and triage history."""
    with user_errors():
        settings = load(config, store)
        with open_existing_store(settings) as s:
            alert = s.get_alert(alert_id)
            history = s.triage_history(alert_id)
    if json_out:
        doc = alert.to_ecs()
        doc["cityshield"]["alert"]["triage_history"] = [h.model_dump(mode="json") for h in history]
        out.print_json(json.dumps(doc))
        return
    ev = alert.evidence
    rows = [
        ("id", alert.id),
        ("rule", f"{alert.rule.id} ({alert.rule.name}, v{alert.rule.version})"),
        ("severity", f"{alert.severity.value} (risk {alert.risk_score:g})"),
        ("message", alert.message),
        ("source", alert.source.ip if alert.source else "-"),
        ("destination", alert.destination.ip if alert.destination else "-"),
        ("count", f"{alert.count:,}"),
        ("first seen", alert.first_seen.isoformat()),
        ("last seen", alert.last_seen.isoformat()),
        ("ATT&CK", ", ".join(alert.techniques) or "-"),
        ("observer", alert.observer),
        ("status", alert.triage.status.value),
        ("assignee", alert.triage.assignee or "-"),
        ("close reason", alert.triage.close_reason.value if alert.triage.close_reason else "-"),
        ("capture", ev.capture_file or "-"),
        ("frames", ", ".join(map(str, ev.frames[:30])) + (" ..." if len(ev.frames) > 30 else "")),
        ("flows", ", ".join(ev.flow_ids[:10]) + (" ..." if len(ev.flow_ids) > 10 else "")),
        ("evidence truncated", "yes" if ev.truncated else "no"),
    ]
    rows += [(f"data.{k}", json.dumps(v)) for k, v in alert.data.items()]
    out.print(kv_table(rows))
    for h in history:
        change = f"{json.dumps(h.before)} -> {json.dumps(h.after)}"
        out.print(escape(f"{h.at.isoformat()} {h.actor}: {change}"))


@app.command("update")
def update(
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    actor: Annotated[str, typer.Option("--actor", help="Who makes the change (logged).")],
    status: Annotated[TriageStatus | None, typer.Option("--status")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    reason: Annotated[
        CloseReason | None, typer.Option("--reason", help="Required to close an alert.")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change an alert's triage state; every change goes to the triage log."""
    with user_errors():
        settings = load(config, store)
        with open_existing_store(settings) as s:
            try:
                alert = s.update_triage(
                    alert_id, status=status, assignee=assignee, close_reason=reason, actor=actor
                )
            except (TriageError, ValueError, ValidationError) as exc:
                # The analyst's request was invalid (e.g. closing without a reason): exit 1.
                raise ConfigError(str(exc), where=alert_id) from None
    if json_out:
        out.print_json(json.dumps(alert.to_ecs()))
    else:
        out.print(f"{alert.id}: {alert.triage.status.value}")

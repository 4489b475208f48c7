"""``cityshield store stats|migrate``: what a store holds, and moving it between SQLite and
Elasticsearch (``--to elasticsearch`` when a city outgrows one machine, ``--to sqlite`` back)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alerts.stores.base import AlertQuery, AlertStore
from alerts.stores.migration import migrate as copy_store
from alerts.stores.registry import open_store
from api.cli.common import ConfigOpt, JsonOpt, StoreOpt, err, load, out, user_errors
from api.cli.render import kv_table
from api.settings import Settings
from cityshield.errors import ConfigError

app = typer.Typer(help="Store statistics and migration between stores.", no_args_is_help=True)


def open_kind(settings: Settings, kind: str) -> AlertStore:
    """The store of ``kind`` configured in ``settings`` (its own section), whatever ``kind`` the
    settings choose for the other commands."""
    section = settings.store.elasticsearch if kind == "elasticsearch" else settings.store.sqlite
    return open_store(kind, **section.model_dump())


@app.command("stats")
def stats(store: StoreOpt = None, config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Counts of alerts by status, flows, records and triage changes in the configured store."""
    with user_errors():
        settings = load(config, store)
        with open_kind(settings, settings.store.kind) as s:
            numbers = s.stats()
    if json_out:
        out.print_json(json.dumps({"store": settings.store.kind, **numbers}))
        return
    out.print(kv_table([("store", settings.store.kind), *numbers.items()]))


@app.command("migrate")
def migrate(
    to: Annotated[str, typer.Option("--to", help="Target store: elasticsearch or sqlite.")],
    source_kind: Annotated[
        str | None, typer.Option("--from", help="Source store (default: the other one).")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy alerts (with triage, tags, comments), triage histories and flows between stores.

    Both stores come from the settings ([store.sqlite] and [store.elasticsearch]). Running it
    again copies nothing twice."""
    with user_errors():
        kinds = ("sqlite", "elasticsearch")
        source_kind = source_kind or ("sqlite" if to == "elasticsearch" else "elasticsearch")
        for name, value in (("--to", to), ("--from", source_kind)):
            if value not in kinds:
                raise ConfigError(f"{name} is one of {', '.join(kinds)}, not {value!r}")
        if source_kind == to:
            raise ConfigError(f"--from and --to are both {to}: nothing to migrate")
        settings = load(config, store)
        with open_kind(settings, source_kind) as source, open_kind(settings, to) as target:
            # Fail now, with the store's own error, if the target cannot be reached: a migration
            # into an unreachable cluster would only fill the spool.
            target.stats()
            totals = {
                "alerts": source.count_alerts(AlertQuery()),
                "flows": source.stats()["flows"],
            }
            with Progress(
                TextColumn("{task.description:>8}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=json_out,
            ) as bar:
                tasks = {what: bar.add_task(what, total=n) for what, n in totals.items()}
                copied = copy_store(
                    source,
                    target,
                    progress=lambda what, n: bar.advance(tasks[what], n) if what in tasks else None,
                )
    if json_out:
        out.print_json(json.dumps({"from": source_kind, "to": to, "copied": copied}))
        return
    summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in copied.items())
    out.print(f"copied from {source_kind} to {to}: {summary}")

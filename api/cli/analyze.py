"""``cityshield analyze CAPTURE...``: the main job, in one process."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from api.analysis import Analysis, AnalysisSummary
from api.analysis import Progress as Step
from api.cli.common import (
    EXIT_CAPTURE,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    err,
    fail,
    load,
    out,
    user_errors,
)
from api.cli.playbooks import response_triggers
from api.cli.render import print_summary
from api.composition import (
    build_alert_filter,
    build_engine,
    build_pipeline,
    build_store,
    open_service_db,
)
from api.eve import EveWriter

DEMO_CAPTURE = Path(__file__).resolve().parent.parent / "demo" / "egov-demo.pcap"


def analyze(
    captures: Annotated[
        list[str] | None,
        typer.Argument(
            help="pcap or pcapng files (plain, gzip, bzip2 or xz), or - for stdin.",
            show_default=False,
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Analyse the bundled e-government demo capture.")
    ] = False,
    store: StoreOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not write a store.")] = False,
    no_flows: Annotated[
        bool, typer.Option("--no-flows", help="Store alerts only, not flow records.")
    ] = False,
    eve: Annotated[
        Path | None,
        typer.Option("--eve", help="Write flows, alerts and decode problems as JSON lines."),
    ] = None,
    sensor: Annotated[
        str | None, typer.Option("--sensor", help="Observer name on records.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Score flows with this anomaly model (cityshield train)."),
    ] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Analyse captures: decode, track flows, detect, and store alerts and flows."""
    paths = list(captures or [])
    if demo:
        paths.insert(0, str(DEMO_CAPTURE))
    if not paths:
        fail("name at least one capture (or - for stdin), or pass --demo", 1)
    for path in paths:
        # Fail fast on what can be checked up front; corrupt contents are reported after the run.
        if path != "-" and not Path(path).is_file():
            problem = (
                "is a directory, not a capture file" if Path(path).is_dir() else "no such file"
            )
            fail(f"{path}: {problem}", EXIT_CAPTURE)
    with user_errors(), ExitStack() as stack:
        settings = load(config, store)
        if model:
            settings = settings.model_copy(
                update={"models": settings.models.model_copy(update={"default": model})}
            )
        if sensor:
            settings = settings.model_copy(
                update={"sensor": settings.sensor.model_copy(update={"name": sensor})}
            )
        engine = build_engine(settings)
        service_db = open_service_db(settings)  # suppressions and aggregation keys (the API's)
        if service_db is not None:
            stack.callback(service_db.close)
        pipeline = build_pipeline(settings, service_db)
        alert_store = None if no_store else stack.enter_context(build_store(settings))
        writer = None
        if eve is not None:
            eve_file = stack.enter_context(eve.open("w", encoding="utf-8"))
            writer = EveWriter(eve_file)
        show_progress = not (json_out or quiet) and err.is_terminal
        progress = stack.enter_context(_progress()) if show_progress else None
        tasks: dict[str, TaskID] = {}

        def on_progress(step: Step) -> None:
            if progress is None:
                return
            task = tasks.get(step.capture)
            if task is None:
                size = _size(step.capture)
                task = tasks[step.capture] = progress.add_task(Path(step.capture).name, total=size)
            rate = step.packets / step.elapsed if step.elapsed else 0.0
            progress.update(
                task,
                completed=step.read_bytes,
                stats=f"{step.packets:,} pkts  {step.bytes / 1e6:,.1f} MB  {rate:,.0f} pkts/s",
            )

        analysis = Analysis(
            engine, pipeline, alert_store, eve=writer, store_flows=not no_flows,
            on_progress=on_progress,
            alert_filter=build_alert_filter(service_db) if service_db is not None else None,
            on_stored=response_triggers(settings, stack),
        )  # fmt: skip
        summary = analysis.run(paths)
        if progress is not None:
            progress.stop()
    _report(summary, json_out=json_out, eve=eve)
    if summary.capture_errors:
        raise typer.Exit(EXIT_CAPTURE)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _size(capture: str) -> float | None:
    path = Path(capture)
    if capture == "-" or not path.is_file() or path.suffix in (".gz", ".bz2", ".xz"):
        return None
    return float(path.stat().st_size)


def _report(summary: AnalysisSummary, *, json_out: bool, eve: Path | None) -> None:
    if json_out:
        out.print_json(json.dumps(summary.as_json()))
    else:
        print_summary(out, summary, eve=eve)
    for problem in summary.capture_errors:
        err.print(f"[bold red]error:[/] {escape(problem)}")

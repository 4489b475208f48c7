"""Human-readable output of the commands (rich tables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alerts.model import Alert, Severity
from api.analysis import AnalysisSummary

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
}


def endpoint(ip: str | None, port: int | None) -> str:
    if ip is None:
        return "-"
    host = f"[{ip}]" if ":" in ip and port is not None else ip
    return f"{host}:{port}" if port is not None else host


def when(alert: Alert) -> str:
    return alert.first_seen.strftime("%Y-%m-%d %H:%M:%S")


def alerts_table(alerts: list[Alert], title: str | None = None) -> Table:
    """Two lines per alert (what, then the message): readable at any terminal width."""
    table = Table(title=title, title_justify="left", box=None, show_header=True, pad_edge=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("first seen (UTC)", no_wrap=True)
    table.add_column("rule / message", overflow="fold")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    for a in alerts:
        src = endpoint(a.source.ip, a.source.port) if a.source else "-"
        dst = endpoint(a.destination.ip, a.destination.port) if a.destination else ""
        table.add_row(
            f"[{SEVERITY_STYLE[a.severity]}]{a.severity.value}[/]",
            when(a),
            f"[bold]{escape(a.rule.id)}[/] {escape(src)}{escape(' -> ' + dst) if dst else ''}\n"
            f"[dim]{escape(a.message)}[/]",
            f"{a.count:,}",
            a.id,
        )
    return table


def print_summary(console: Console, s: AnalysisSummary, *, eve: Path | None) -> None:
    n = len(s.captures)
    console.print(
        f"[bold]Analysed {n} capture{'s' * (n != 1)}[/] in {s.elapsed:.2f} s: "
        f"{s.packets:,} packets, {s.bytes / 1e6:,.1f} MB "
        f"({s.packets_per_second:,.0f} packets/s, {s.mbit_per_second:,.1f} Mbit/s)"
    )
    console.print(
        f"Decoded {s.decoded:,} IP packets into {s.flows:,} flows"
        + (f"; {s.flows_evicted:,} flows evicted (table full)" if s.flows_evicted else "")
        + (
            f"; {s.fragments_reassembled:,} datagrams reassembled"
            if s.fragments_reassembled
            else ""
        )
    )
    if s.records:
        kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(s.records.items()))
        console.print(f"Protocol records: {kinds}")
    by_sev = s.alerts_by_severity()
    sev_text = ", ".join(
        f"[{SEVERITY_STYLE[sev]}]{by_sev[sev.value]} {sev.value}[/]"
        for sev in sorted(Severity, key=lambda v: -v.rank)
        if sev.value in by_sev
    )
    console.print(f"Alerts: [bold]{len(s.alerts)}[/]" + (f" ({sev_text})" if sev_text else ""))
    if s.alerts:
        console.print(alerts_table(s.alerts[:25], title="Alerts (most severe first)"))
        if len(s.alerts) > 25:
            console.print(f"... and {len(s.alerts) - 25} more: cityshield alerts list")
        rules = Table(title="Top rules", title_justify="left")
        for col in ("rule", "name", "alerts", "occurrences"):
            rules.add_column(col)
        for rid, name, alerts, occ in s.top_rules():
            rules.add_row(escape(rid), escape(name), f"{alerts:,}", f"{occ:,}")
        console.print(rules)
    _problems(console, s)
    unhealthy = {k: v for k, v in s.detectors.items() if v.get("errors")}
    for detector_id, health in unhealthy.items():
        console.print(
            f"[red]detector {detector_id} degraded:[/] {health['errors']} errors, "
            f"last: {health.get('last_error', '')}"
        )
    if s.store:
        console.print(f"Stored in [bold]{escape(s.store)}[/]: triage with `cityshield alerts list`")
    if eve:
        console.print(f"Events written to {escape(str(eve))}")


def _problems(console: Console, s: AnalysisSummary) -> None:
    if s.weird or s.other:
        table = Table(title="Decode problems and packets without flows", title_justify="left")
        table.add_column("kind")
        table.add_column("packets", justify="right")
        for name, count in s.weird.items():
            table.add_row(f"[yellow]{name}[/]", f"{count:,}")
        for name, count in s.other.items():
            table.add_row(name, f"{count:,}")
        console.print(table)
    for problem in s.capture_problems:
        console.print(f"[yellow]warning:[/] {escape(problem)}")


def kv_table(rows: list[tuple[str, Any]]) -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(escape(k), escape(str(v)))
    return table

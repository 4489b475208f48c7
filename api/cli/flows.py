"""``cityshield flows list``: the flow records behind alerts."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from alerts.stores.base import FlowQuery
from api.cli.common import ConfigOpt, JsonOpt, StoreOpt, load, open_existing_store, out, user_errors
from api.cli.render import endpoint
from api.cli.timespec import parse_time

app = typer.Typer(help="List and show stored flow records.", no_args_is_help=True)


@app.command("list")
def list_flows(
    ip: Annotated[
        str | None, typer.Option("--ip", help="Source or destination IP or CIDR.")
    ] = None,
    community_id: Annotated[str | None, typer.Option("--community-id")] = None,
    transport: Annotated[str | None, typer.Option("--transport", help="tcp, udp, icmp...")] = None,
    state: Annotated[str | None, typer.Option("--state", help="conn_state: SF, S0, REJ...")] = None,
    since: Annotated[str | None, typer.Option("--since")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Flows, most recent first."""
    with user_errors():
        settings = load(config, store)
        query = FlowQuery(
            ip=ip, community_id=community_id, transport=transport, conn_state=state,
            start=parse_time(since), end=parse_time(until), limit=limit,
        )  # fmt: skip
        with open_existing_store(settings) as s:
            flows = s.query_flows(query)
    if json_out:
        out.print_json(json.dumps(flows))
        return
    table = Table()
    for col in ("start", "transport", "source", "destination", "state", "pkts", "bytes", "id"):
        table.add_column(col)
    for f in flows:
        table.add_row(*_row(f))
    out.print(table)


@app.command("show")
def show(
    flow_id: Annotated[str, typer.Argument(help="Flow id (event.id).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One flow record as JSON."""
    with user_errors():
        settings = load(config, store)
        with open_existing_store(settings) as s:
            out.print_json(json.dumps(s.get_flow(flow_id)))


def _row(f: dict[str, Any]) -> list[str]:
    src, dst, net = f["source"], f["destination"], f["network"]
    return [
        f["event"]["start"][:23],
        net["transport"],
        endpoint(src["ip"], src.get("port")),
        endpoint(dst["ip"], dst.get("port")),
        f["cityshield"]["flow"]["conn_state"],
        f"{src['packets']}/{dst['packets']}",
        f"{src['bytes']}/{dst['bytes']}",
        f["event"]["id"],
    ]

"""The ``cityshield`` command: ``analyze`` captures, triage ``alerts``, browse ``flows``.

Errors that a user can fix (a missing file, a corrupt capture, a bad setting) end in one line
naming the file and the problem and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import gc

import typer

from api.cli import alerts as alerts_cmd
from api.cli import analyze as analyze_cmd
from api.cli import demo as demo_cmd
from api.cli import dissect as dissect_cmd
from api.cli import evaluate as evaluate_cmd
from api.cli import flows as flows_cmd
from api.cli import pki as pki_cmd
from api.cli import playbooks as playbooks_cmd
from api.cli import scan as scan_cmd
from api.cli import sensor as sensor_cmd
from api.cli import serve as serve_cmd
from api.cli import store as store_cmd
from api.cli import train as train_cmd
from api.cli import users as users_cmd

app = typer.Typer(
    name="cityshield",
    help="CityShield: network security monitoring for a city's e-government services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("analyze")(analyze_cmd.analyze)
app.command("train")(train_cmd.train)
app.command("calibrate")(train_cmd.calibrate)
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("scan")(scan_cmd.scan)
app.add_typer(alerts_cmd.app, name="alerts")
app.add_typer(pki_cmd.app, name="pki")
app.add_typer(playbooks_cmd.app, name="playbooks")
app.add_typer(flows_cmd.app, name="flows")
app.add_typer(store_cmd.app, name="store")
app.add_typer(demo_cmd.app, name="demo")
app.command("serve")(serve_cmd.serve)
app.add_typer(users_cmd.app, name="users")
app.add_typer(sensor_cmd.app, name="sensor")
app.command("dissect")(dissect_cmd.dissect)


def main() -> None:
    # Analysis builds flow records by the hundred thousand; none of them form reference cycles.
    # With the default thresholds the cyclic collector would walk every live record again and
    # again (70% of the time of building them); collect rarely instead.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    app()

"""``cityshield sensor``: run a live sensor on an interface, enrol it, and show its health."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import orjson
import typer
from rich.table import Table

from api.cli.common import (
    EXIT_CAPTURE,
    EXIT_CONFIG,
    ConfigOpt,
    JsonOpt,
    err,
    fail,
    load,
    out,
    user_errors,
)

app = typer.Typer(help="Live sensors on network taps.", no_args_is_help=True)


@app.command("run")
def run(
    interface: Annotated[str, typer.Option("--interface", "-i", help="Interface to capture.")],
    bpf: Annotated[str, typer.Option("--bpf", help="BPF capture filter (libpcap syntax).")] = "",
    config: ConfigOpt = None,
) -> None:
    """Capture INTERFACE, detect, and ship to the central service until SIGTERM or Ctrl-C."""
    from api.sensor_agent import SensorAgent  # libpcap only for this command

    with user_errors():
        settings = load(config)
        agent = SensorAgent(settings, interface, bpf)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            agent.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGHUP, lambda signum, frame: agent.reload())
        err.print(f"capturing {interface} as sensor {settings.sensor.name!r}")
        agent.run()
        if agent.capture.error:
            fail(f"{agent.capture.error} (what was captured before was shipped)", EXIT_CAPTURE)
        c = agent.counters()
        err.print(
            f"stopped: {c['packets']} packets, {c['alerts']} alert updates, "
            f"{c['kernel_dropped'] + c['interface_dropped'] + c['ring_dropped']} dropped, "
            f"{c['spool_batches']} batches left in the spool"
        )


@app.command("status")
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Capture rate, drops, spool and last contact of the sensor running with these settings."""
    with user_errors():
        settings = load(config)
        path = Path(settings.agent.state_dir) / "status.json"
        try:
            data: dict[str, Any] = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            fail(f"no sensor status here ({exc}); is `cityshield sensor run` running?", EXIT_CONFIG)
        data["running"] = _alive(data.get("pid"))
        data["status_age_seconds"] = round(time.time() - float(data.get("updated_at", 0)), 1)
        if as_json:
            out.print_json(orjson.dumps(data).decode())
            return
        table = Table(show_header=False, box=None)
        for key, label in _ROWS:
            table.add_row(label, _fmt(key, data.get(key)))
        out.print(table)


_ROWS = [
    ("sensor", "sensor"),
    ("interface", "interface"),
    ("running", "running"),
    ("status_age_seconds", "status age (s)"),
    ("packets_per_second", "capture rate (packets/s)"),
    ("bytes_per_second", "capture rate (bytes/s)"),
    ("packets", "packets captured"),
    ("kernel_dropped", "dropped by the kernel"),
    ("interface_dropped", "dropped by the interface"),
    ("ring_dropped", "dropped by us (ring full)"),
    ("flows_active", "flows active"),
    ("alerts", "alert updates"),
    ("spool_bytes", "spool (bytes)"),
    ("spool_batches", "spool (batches waiting)"),
    ("batches_sent", "batches delivered"),
    ("central_reachable", "central service reachable"),
    ("last_contact", "last contact"),
    ("last_error", "last error"),
    ("rule_version", "rule version"),
    ("rule_error", "rule error"),
]


def _fmt(key: str, value: Any) -> str:
    if key == "last_contact" and isinstance(value, int | float):
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(value))
    return "-" if value is None else str(value)


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@app.command("enrol")
def enrol(
    admin_token: Annotated[
        str, typer.Option("--admin-token", envvar="CITYSHIELD_ADMIN_TOKEN", help="An admin token.")
    ],
    central: Annotated[
        str | None, typer.Option("--central", help="Default: agent.central_url.")
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    config: ConfigOpt = None,
) -> None:
    """Enrol this sensor (sensor.name) with the central service; its credential goes to
    agent.token_file (mode 0600)."""
    with user_errors():
        settings = load(config)
        url = (central or settings.agent.central_url).rstrip("/")
        if not url:
            fail("no central service: pass --central or set agent.central_url", EXIT_CONFIG)
        try:
            response = httpx.post(
                f"{url}/api/v1/sensors",
                json={"name": settings.sensor.name, "description": description},
                headers={"Authorization": f"Bearer {admin_token}"},
                timeout=30,
                verify=settings.agent.ca_file or True,
            )
        except httpx.HTTPError as exc:
            fail(f"cannot reach {url}: {exc}", EXIT_CONFIG)
        if response.status_code != 201:
            fail(f"enrolment refused ({response.status_code}): {response.text[:300]}", EXIT_CONFIG)
        token = response.json()["credential"]["token"]
        path = Path(settings.agent.token_file)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        err.print(f"enrolled {settings.sensor.name!r}; credential written to {path}")

"""``cityshield dissect``: tshark's full dissection of a capture file or of an alert's packets."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import httpx
import typer

from api.app.evidence.dissect import DissectError
from api.app.evidence.dissect import dissect as run_tshark
from api.cli.common import (
    EXIT_CAPTURE,
    EXIT_CONFIG,
    ConfigOpt,
    StoreOpt,
    fail,
    load,
    open_existing_store,
    out,
    user_errors,
)
from cityshield.errors import NotFoundError


def dissect(
    target: Annotated[str, typer.Argument(help="A capture file, or an alert id.")],
    as_json: Annotated[bool, typer.Option("--json", help="tshark's JSON instead of text.")] = False,
    count: Annotated[int, typer.Option("--count", "-c", min=1, help="Packets at most.")] = 1000,
    central: Annotated[
        str | None,
        typer.Option("--central", help="Fetch the alert's packets from this central service."),
    ] = None,
    token: Annotated[
        str | None, typer.Option("--token", envvar="CITYSHIELD_TOKEN", help="API token.")
    ] = None,
    config: ConfigOpt = None,
    store: StoreOpt = None,
) -> None:
    """Show every packet as Wireshark's packet details pane does (tshark -V).

    An alert id is looked up in the local store (alerts of `analyze` name their capture file and
    frames), or, with --central, its packets are downloaded from the central service."""
    fmt = "json" if as_json else "text"
    with user_errors():
        path = Path(target)
        if path.is_file():
            _print(path, fmt, count, None)
            return
        if central:
            _print_remote(central.rstrip("/"), target, token, fmt, count)
            return
        settings = load(config, store)
        with open_existing_store(settings) as s:
            try:
                alert = s.get_alert(target)
            except NotFoundError:
                fail(f"{target}: neither a file nor an alert in the store", EXIT_CONFIG)
        capture, frames = alert.evidence.capture_file, alert.evidence.frames
        if not capture or not Path(capture).is_file():
            fail(
                f"alert {target}'s packets are not here (capture file {capture!r}); "
                "pass --central to fetch them from the central service",
                EXIT_CAPTURE,
            )
        if frames:
            # Read up to the alert's last frame only; the filter keeps its frames.
            frame_filter = "frame.number in {" + ",".join(map(str, frames)) + "}"
            _print(Path(capture), fmt, max(frames), frame_filter)
        else:
            _print(Path(capture), fmt, count, None)


def _print(path: Path, fmt: str, count: int, display_filter: str | None) -> None:
    try:
        result = run_tshark(path, "json" if fmt == "json" else "text", max_packets=count,
                            display_filter=display_filter)  # fmt: skip
    except DissectError as exc:
        fail(str(exc), EXIT_CAPTURE)
    out.out(result.output, end="", highlight=False)


def _print_remote(url: str, alert_id: str, token: str | None, fmt: str, count: int) -> None:
    if not token:
        fail("--central needs a token (--token or $CITYSHIELD_TOKEN)", EXIT_CONFIG)
    try:
        response = httpx.get(
            f"{url}/api/v1/alerts/{alert_id}/packets",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}", EXIT_CONFIG)
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        fail(f"no packets for alert {alert_id}: {detail}", EXIT_CAPTURE)
    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(response.content)
        f.flush()
        _print(Path(f.name), fmt, count, None)

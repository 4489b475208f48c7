"""``cityshield demo generate DIR``: write the deterministic demo capture and its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import out

app = typer.Typer(help="The bundled e-government demo capture.", no_args_is_help=True)


@app.command("generate")
def generate(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the pcap and its manifest.")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Another seed, another capture.")
    ] = None,
) -> None:
    """Write egov-demo.pcap and egov-demo.manifest.json (same seed, same bytes)."""
    from api.demo.generator import DEFAULT_SEED
    from api.demo.generator import generate as run  # scapy is slow to import: only when asked

    manifest = run(out_dir, seed=DEFAULT_SEED if seed is None else seed)
    t = manifest.totals
    out.print(
        f"{out_dir}: {t.packets:,} packets, {t.connections:,} connections, "
        f"{len(manifest.attacks)} planted attacks"
    )

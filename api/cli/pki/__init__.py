"""``cityshield pki``: check certificate chains (``check``) and keep the city's credential registry
(``registry add|list|remove|revoke|scan``)."""

from __future__ import annotations

import typer

from api.cli.pki.check import check
from api.cli.pki.registry import app as registry_app

app = typer.Typer(help="Check PKI credentials: chains, revocation, policy.", no_args_is_help=True)
app.command("check")(check)
app.add_typer(registry_app, name="registry")

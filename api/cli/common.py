"""What the commands share: settings, the store, consoles, and turning errors into one line."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from alerts.stores.base import AlertStore
from api.composition import build_store
from api.settings import Settings, settings_from
from cityshield.errors import CaptureError, CityShieldError, ConfigError, StoreError
from cityshield.logging import configure_logging

# Piped output is read by people too (in a pager, in a ticket): wider than the 80-column default.
_WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Settings file (TOML). Default: $CITYSHIELD_CONFIG."),
]
StoreOpt = Annotated[
    Path | None, typer.Option("--store", help="SQLite store. Default: cityshield.db (settings).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]

EXIT_CONFIG = 1
EXIT_CAPTURE = 2
EXIT_STORE = 3


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Domain errors become one line on stderr and an exit status."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    except CaptureError as exc:
        fail(str(exc), EXIT_CAPTURE)
    except StoreError as exc:
        fail(str(exc), EXIT_STORE)
    except CityShieldError as exc:
        fail(str(exc), EXIT_CONFIG)
    except BrokenPipeError:
        sys.stderr.close()  # output piped into `head`: not an error
        raise typer.Exit(0) from None


def load(config: Path | None, store: Path | None = None) -> Settings:
    settings = settings_from(config)
    if store is not None:
        sqlite = settings.store.sqlite.model_copy(update={"path": str(store)})
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"sqlite": sqlite})}
        )
    configure_logging(settings.log_level)
    return settings


def open_existing_store(settings: Settings) -> AlertStore:
    """The store for reading: it must exist already (reading never creates an empty one)."""
    path = settings.store.sqlite.path
    if settings.store.kind == "sqlite" and path != ":memory:" and not Path(path).exists():
        raise StoreError(
            "no store here yet: run `cityshield analyze CAPTURE` first, or pass --store",
            where=path,
        )
    return build_store(settings)

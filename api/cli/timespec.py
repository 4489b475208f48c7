"""Times on the command line: ISO 8601 (``2026-03-02T08:00:00Z``) or relative (``90m``, ``7d``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import typer

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None, *, now: datetime | None = None) -> datetime | None:
    if value is None:
        return None
    m = _RELATIVE.match(value.strip())
    if m:
        delta = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO 8601 time nor a duration like 90m, 12h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

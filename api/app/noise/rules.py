"""Reading suppressions from the service database, and writing what they held back."""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from api.app.db import from_micros, micros
from api.app.noise.matching import SuppressionRule

COLUMNS = (
    "id, kind, rule_id, source_cidr, destination_cidr, min_count, reason, created_by, "
    "created_at, expires_at, deleted_at"
)


def rule_of(row: tuple[Any, ...]) -> SuppressionRule:
    sid, kind, rule_id, source, destination, min_count, *_, expires_at, _deleted = row
    return SuppressionRule(
        id=sid,
        kind=kind,
        rule_id=rule_id,
        source=ipaddress.ip_network(source) if source else None,
        destination=ipaddress.ip_network(destination) if destination else None,
        min_count=min_count,
        expires_at=from_micros(expires_at) if expires_at is not None else None,
    )


def active_rules(conn: sqlite3.Connection, now: datetime) -> list[SuppressionRule]:
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM suppressions WHERE deleted_at IS NULL "  # noqa: S608
        "AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at",
        (micros(now),),
    ).fetchall()
    return [rule_of(r) for r in rows]


def record_hits(
    conn: sqlite3.Connection, hits: Mapping[tuple[str, str], int], now: datetime
) -> None:
    """Count held-back alerts per suppression: one row per (suppression, alert), whose count is
    the alert's latest count (an aggregate is held back again each time it grows)."""
    at = micros(now)
    conn.executemany(
        "INSERT INTO suppression_hits (suppression_id, alert_id, count, first_at, last_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (suppression_id, alert_id) DO UPDATE SET "
        "count = max(count, excluded.count), last_at = excluded.last_at",
        [(sid, alert_id, count, at, at) for (sid, alert_id), count in hits.items()],
    )

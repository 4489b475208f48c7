"""``AuditLog``: append entries (in the caller's transaction when the change is in this database)
and read them back by object, actor or time, oldest first, in keyset pages."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from api.app.audit.models import AuditEntry, AuditPage
from api.app.auth.principal import Principal
from api.app.db import ServiceDatabase, from_micros, micros
from cityshield.clock import Clock


class AuditLog:
    def __init__(self, db: ServiceDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def append(
        self,
        conn: sqlite3.Connection,
        actor: Principal,
        action: str,
        object_type: str,
        object_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Add an entry inside the caller's open write transaction: the change and its record
        commit together or not at all."""
        conn.execute(
            "INSERT INTO audit_log (at, actor, role, action, object_type, object_id, before, "
            "after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                micros(self._clock.now()),
                actor.name,
                actor.role.value,
                action,
                object_type,
                object_id,
                _json(before),
                _json(after),
            ),
        )

    def record(
        self,
        actor: Principal,
        action: str,
        object_type: str,
        object_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        """Add an entry in a transaction of its own (for changes kept elsewhere: alerts)."""
        with self._db.write() as conn:
            self.append(conn, actor, action, object_type, object_id, before, after)

    def query(
        self,
        *,
        object_type: str | None = None,
        object_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> AuditPage:
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("object_type", object_type),
            ("object_id", object_id),
            ("actor", actor),
            ("action", action),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            conditions.append("at >= ?")
            params.append(micros(since))
        if until is not None:
            conditions.append("at <= ?")
            params.append(micros(until))
        if after is not None:
            conditions.append("seq > ?")
            params.append(after)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        # Constant fragments only; every value is a parameter.
        columns = "seq, at, actor, role, action, object_type, object_id, before, after"
        sql = f"SELECT {columns} FROM audit_log{where} ORDER BY seq LIMIT ?"  # noqa: S608
        with self._db.read() as conn:
            rows = conn.execute(sql, [*params, limit + 1]).fetchall()
        items = [_entry(row) for row in rows[:limit]]
        return AuditPage(items=items, next_after=items[-1].seq if len(rows) > limit else None)


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    seq, at, actor, role, action, object_type, object_id, before, after = row
    return AuditEntry(
        seq=seq,
        at=from_micros(at),
        actor=actor,
        role=role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=None if before is None else orjson.loads(before),
        after=None if after is None else orjson.loads(after),
    )

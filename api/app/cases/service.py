"""``CaseService``: cases in the service database, alerts read from the store, every change
audited in the same transaction (the audit entries of a case are its history)."""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Iterable
from typing import Any

from alerts.model import Alert, Severity
from alerts.stores.base import AlertStore
from api.app.audit.log import AuditLog
from api.app.auth.principal import Principal
from api.app.cases.models import (
    MAX_CASE_ALERTS,
    CaseComment,
    CaseCreate,
    CaseList,
    CasePublic,
    CaseStatus,
    CaseSummary,
    CaseUpdate,
    Observable,
)
from api.app.cases.observables import observables
from api.app.db import ServiceDatabase, from_micros, micros
from api.app.errors import Conflict, InvalidRequest, Missing
from cityshield.clock import Clock
from cityshield.errors import NotFoundError

_CURSOR = re.compile(r"^(\d{1,20})\.([0-9a-f]{16})$")
_SUMMARY = (
    "SELECT c.id, c.title, c.severity, c.tlp, c.status, c.assignee, c.created_by, c.created_at, "
    "c.updated_at, c.merged_into, (SELECT count(*) FROM case_alerts a WHERE a.case_id = c.id), "
    "c.description FROM cases c"
)


class CaseService:
    def __init__(
        self, db: ServiceDatabase, store: AlertStore, audit: AuditLog, clock: Clock
    ) -> None:
        self._db = db
        self._store = store
        self._audit = audit
        self._clock = clock

    def create(self, actor: Principal, body: CaseCreate) -> CasePublic:
        alerts = self._alerts(body.alert_ids)
        severity = body.severity or max(
            (a.severity for a in alerts), key=lambda s: s.rank, default=Severity.MEDIUM
        )
        case_id = secrets.token_hex(8)
        now = micros(self._clock.now())
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO cases (id, title, description, severity, tlp, status, assignee, "
                "created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
                (case_id, body.title, body.description, severity.value, body.tlp,
                 body.assignee or None, actor.name, now, now),
            )  # fmt: skip
            self._attach(conn, actor, case_id, alerts)
            case = self._get(conn, case_id)
            self._audit.append(conn, actor, "case.create", "case", case_id, None, _doc(case))
        return case

    def get(self, case_id: str) -> CasePublic:
        with self._db.read() as conn:
            return self._get(conn, case_id)

    def find(self, *, status: list[CaseStatus] | None, limit: int, cursor: str | None) -> CaseList:
        conditions: list[str] = []
        params: list[object] = []
        if status:
            conditions.append(f"c.status IN ({', '.join('?' * len(status))})")
            params.extend(status)
        if cursor is not None:
            match = _CURSOR.match(cursor)
            if match is None:
                raise InvalidRequest("not a cursor from this list", where="cursor")
            conditions.append("(c.updated_at, c.id) < (?, ?)")
            params.extend([int(match[1]), match[2]])
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        with self._db.read() as conn:
            rows = conn.execute(
                f"{_SUMMARY}{where} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
                [*params, limit + 1],
            ).fetchall()
        items = [_summary(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return CaseList(items=items, next_cursor=f"{last[8]}.{last[0]}" if last else None)

    def update(self, actor: Principal, case_id: str, body: CaseUpdate) -> CasePublic:
        changes = body.model_dump(exclude_none=True)
        with self._db.write() as conn:
            before = self._get(conn, case_id)
            if before.merged_into is not None:
                raise Conflict(f"case {case_id} was merged into {before.merged_into}")
            if "assignee" in changes:
                changes["assignee"] = changes["assignee"].strip() or None
            if not changes:
                return before
            columns = ", ".join(f"{k} = ?" for k in changes)  # keys of CaseUpdate only
            conn.execute(
                f"UPDATE cases SET {columns}, updated_at = ? WHERE id = ?",  # noqa: S608
                [*(v.value if isinstance(v, Severity) else v for v in changes.values()),
                 micros(self._clock.now()), case_id],
            )  # fmt: skip
            after = self._get(conn, case_id)
            self._audit.append(
                conn, actor, "case.update", "case", case_id, _doc(before), _doc(after)
            )
        return after

    def add_alerts(self, actor: Principal, case_id: str, alert_ids: list[str]) -> CasePublic:
        alerts = self._alerts(alert_ids)
        with self._db.write() as conn:
            before = self._get(conn, case_id)
            if before.merged_into is not None:
                raise Conflict(f"case {case_id} was merged into {before.merged_into}")
            self._attach(conn, actor, case_id, alerts)
            self._touch(conn, case_id)
            after = self._get(conn, case_id)
            self._audit.append(
                conn, actor, "case.add_alerts", "case", case_id,
                {"alert_ids": before.alert_ids}, {"alert_ids": after.alert_ids},
            )  # fmt: skip
        return after

    def merge(self, actor: Principal, case_id: str, others: list[str]) -> CasePublic:
        others = [o for o in dict.fromkeys(others) if o != case_id]
        if not others:
            raise InvalidRequest("name at least one other case to merge into this one")
        with self._db.write() as conn:
            before = self._get(conn, case_id)
            if before.merged_into is not None:
                raise Conflict(f"case {case_id} was merged into {before.merged_into}")
            for other in others:
                merged = self._get(conn, other)
                if merged.merged_into is not None:
                    raise Conflict(f"case {other} was merged into {merged.merged_into} already")
                self._move(conn, other, case_id)
                conn.execute(
                    "UPDATE cases SET merged_into = ?, status = 'closed', updated_at = ? "
                    "WHERE id = ?",
                    (case_id, micros(self._clock.now()), other),
                )
                self._audit.append(
                    conn, actor, "case.merged", "case", other, _doc(merged),
                    _doc(self._get(conn, other)),
                )  # fmt: skip
            self._touch(conn, case_id)
            after = self._get(conn, case_id)
            self._audit.append(
                conn, actor, "case.merge", "case", case_id, _doc(before),
                {**_doc(after), "merged": others},
            )  # fmt: skip
        return after

    def comment(self, actor: Principal, case_id: str, text: str) -> CaseComment:
        now = micros(self._clock.now())
        with self._db.write() as conn:
            self._get(conn, case_id)
            cur = conn.execute(
                "INSERT INTO case_comments (case_id, author, at, body) VALUES (?, ?, ?, ?)",
                (case_id, actor.name, now, text),
            )
            self._touch(conn, case_id)
            comment = CaseComment(
                id=cur.lastrowid or 0, author=actor.name, at=from_micros(now), text=text
            )
            self._audit.append(
                conn, actor, "case.comment", "case", case_id, None,
                {"comment": comment.model_dump(mode="json")},
            )  # fmt: skip
        return comment

    # --------------------------------------------------------------------------------- internal

    def _alerts(self, alert_ids: Iterable[str]) -> list[Alert]:
        alerts = []
        for alert_id in dict.fromkeys(alert_ids):
            try:
                alerts.append(self._store.get_alert(alert_id))
            except NotFoundError:
                raise Missing(f"no alert with id {alert_id!r}") from None
        return alerts

    def _attach(
        self, conn: sqlite3.Connection, actor: Principal, case_id: str, alerts: list[Alert]
    ) -> None:
        count = conn.execute(
            "SELECT count(*) FROM case_alerts WHERE case_id = ?", (case_id,)
        ).fetchone()[0]
        if count + len(alerts) > MAX_CASE_ALERTS:
            raise Conflict(f"a case holds at most {MAX_CASE_ALERTS} alerts")
        now = micros(self._clock.now())
        conn.executemany(
            "INSERT OR IGNORE INTO case_alerts (case_id, alert_id, added_at, added_by) "
            "VALUES (?, ?, ?, ?)",
            [(case_id, a.id, now, actor.name) for a in alerts],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO case_observables (case_id, kind, value, alert_id) "
            "VALUES (?, ?, ?, ?)",
            [(case_id, kind, value, a.id) for a in alerts for kind, value in observables(a)],
        )

    def _move(self, conn: sqlite3.Connection, source: str, target: str) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO case_alerts (case_id, alert_id, added_at, added_by) "
            "SELECT ?, alert_id, added_at, added_by FROM case_alerts WHERE case_id = ?",
            (target, source),
        )
        conn.execute(
            "INSERT OR IGNORE INTO case_observables (case_id, kind, value, alert_id) "
            "SELECT ?, kind, value, alert_id FROM case_observables WHERE case_id = ?",
            (target, source),
        )
        conn.execute(
            "INSERT INTO case_comments (case_id, author, at, body) "
            "SELECT ?, author, at, body FROM case_comments WHERE case_id = ? ORDER BY id",
            (target, source),
        )

    def _touch(self, conn: sqlite3.Connection, case_id: str) -> None:
        conn.execute(
            "UPDATE cases SET updated_at = ? WHERE id = ?", (micros(self._clock.now()), case_id)
        )

    def _get(self, conn: sqlite3.Connection, case_id: str) -> CasePublic:
        row = conn.execute(f"{_SUMMARY} WHERE c.id = ?", (case_id,)).fetchone()
        if row is None:
            raise Missing(f"no case {case_id!r}")
        alert_ids = [
            r[0]
            for r in conn.execute(
                "SELECT alert_id FROM case_alerts WHERE case_id = ? ORDER BY added_at, alert_id",
                (case_id,),
            )
        ]
        found = [
            Observable(kind=k, value=v, alert_id=a)
            for k, v, a in conn.execute(
                "SELECT kind, value, alert_id FROM case_observables WHERE case_id = ? "
                "ORDER BY kind, value",
                (case_id,),
            )
        ]
        comments = [
            CaseComment(id=i, author=who, at=from_micros(at), text=body)
            for i, who, at, body in conn.execute(
                "SELECT id, author, at, body FROM case_comments WHERE case_id = ? ORDER BY id",
                (case_id,),
            )
        ]
        summary = _summary(row)
        return CasePublic(
            **summary.model_dump(), description=row[11], alert_ids=alert_ids,
            observables=found, comments=comments,
        )  # fmt: skip


def _summary(row: tuple[Any, ...]) -> CaseSummary:
    return CaseSummary(
        id=row[0], title=row[1], severity=Severity(row[2]), tlp=row[3], status=row[4],
        assignee=row[5], created_by=row[6], created_at=from_micros(row[7]),
        updated_at=from_micros(row[8]), merged_into=row[9], alerts=row[10],
    )  # fmt: skip


def _doc(case: CasePublic) -> dict[str, Any]:
    return case.model_dump(mode="json", exclude={"comments", "observables", "alert_ids"}) | {
        "alerts": len(case.alert_ids)
    }

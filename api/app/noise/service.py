"""``NoiseService``: suppressions (create, list, delete, preview) and aggregation keys per rule."""

from __future__ import annotations

import ipaddress
import secrets
import sqlite3
from typing import Any

import orjson

from alerts.stores.base import AlertQuery, AlertStore
from api.app.audit.log import AuditLog
from api.app.auth.principal import Principal
from api.app.db import ServiceDatabase, from_micros, micros
from api.app.errors import InvalidRequest, Missing
from api.app.noise.filter import SuppressionFilter
from api.app.noise.matching import IpNetwork, SuppressionRule
from api.app.noise.models import (
    AggregationRule,
    AggregationRulePublic,
    SuppressionCreate,
    SuppressionHits,
    SuppressionPreview,
    SuppressionPublic,
)
from api.app.noise.rules import COLUMNS, rule_of
from cityshield.clock import Clock

#: Stored alerts a preview looks at, at most: a preview must answer while the analyst waits.
PREVIEW_BUDGET = 200_000
_PAGE = 1000


class NoiseService:
    def __init__(
        self,
        db: ServiceDatabase,
        store: AlertStore,
        audit: AuditLog,
        clock: Clock,
        alert_filter: SuppressionFilter,
    ) -> None:
        self._db = db
        self._store = store
        self._audit = audit
        self._clock = clock
        self.filter = alert_filter

    # ------------------------------------------------------------------------------ suppressions

    def create(self, actor: Principal, body: SuppressionCreate) -> SuppressionPublic:
        now = self._clock.now()
        if body.expires_at is not None and body.expires_at <= now:
            raise InvalidRequest("expires_at is in the past")
        sid = secrets.token_hex(8)
        with self._db.write() as conn:
            conn.execute(
                f"INSERT INTO suppressions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",  # noqa: S608
                (sid, body.kind, body.rule_id, body.source, body.destination, body.min_count,
                 body.reason, actor.name, micros(now),
                 micros(body.expires_at) if body.expires_at else None),
            )  # fmt: skip
            public = self._get(conn, sid)
            self._audit.append(
                conn, actor, "suppression.create", "suppression", sid, None, _doc(public)
            )
        self.filter.invalidate()
        return public

    def all(self, *, include_deleted: bool = False) -> list[SuppressionPublic]:
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        with self._db.read() as conn:
            sql = f"SELECT id FROM suppressions{where} ORDER BY created_at"  # noqa: S608
            ids = [r[0] for r in conn.execute(sql)]
            return [self._get(conn, sid) for sid in ids]

    def get(self, sid: str) -> SuppressionPublic:
        with self._db.read() as conn:
            return self._get(conn, sid)

    def delete(self, actor: Principal, sid: str) -> SuppressionPublic:
        """Soft delete: its counters stay readable and the audit trail stays whole."""
        with self._db.write() as conn:
            before = self._get(conn, sid)
            if not before.deleted:
                conn.execute(
                    "UPDATE suppressions SET deleted_at = ? WHERE id = ?",
                    (micros(self._clock.now()), sid),
                )
            after = self._get(conn, sid)
            self._audit.append(
                conn, actor, "suppression.delete", "suppression", sid, _doc(before), _doc(after)
            )
        self.filter.invalidate()
        return after

    def preview(self, body: SuppressionCreate) -> SuppressionPreview:
        """How many stored alerts the suppression would match (a threshold: those below it)."""
        rule = SuppressionRule(
            id="preview", kind=body.kind, rule_id=body.rule_id,
            source=_net(body.source), destination=_net(body.destination),
            min_count=body.min_count, expires_at=None,
        )  # fmt: skip
        rules = [body.rule_id] if body.rule_id else None
        if body.kind == "suppress" and body.source is None and body.destination is None:
            total = self._store.count_alerts(AlertQuery(rule_ids=rules))
            return SuppressionPreview(matched=total, scanned=total, exact=True)
        # The store filters by an address on either side; the exact side and the threshold are
        # checked here, page by page, within a budget.
        query = AlertQuery(rule_ids=rules, ip=body.source or body.destination, limit=_PAGE)
        matched = scanned = 0
        while scanned < PREVIEW_BUDGET:
            page = self._store.query_alerts(query)
            scanned += len(page.items)
            matched += sum(1 for a in page.items if rule.holds_back(a))
            if page.next_cursor is None:
                return SuppressionPreview(matched=matched, scanned=scanned, exact=True)
            query = query.model_copy(update={"cursor": page.next_cursor})
        return SuppressionPreview(matched=matched, scanned=scanned, exact=False)

    def _get(self, conn: sqlite3.Connection, sid: str) -> SuppressionPublic:
        sql = f"SELECT {COLUMNS} FROM suppressions WHERE id = ?"  # noqa: S608 - constant columns
        row = conn.execute(sql, (sid,)).fetchone()
        if row is None:
            raise Missing(f"no suppression {sid!r}")
        hits = conn.execute(
            "SELECT count(*), coalesce(sum(count), 0), max(last_at) FROM suppression_hits "
            "WHERE suppression_id = ?",
            (sid,),
        ).fetchone()
        rule = rule_of(row)
        _, kind, rule_id, source, destination, min_count, reason, by, created, expires, deleted = (
            row
        )
        return SuppressionPublic(
            id=sid, kind=kind, rule_id=rule_id, source=source, destination=destination,
            min_count=min_count, reason=reason, created_by=by, created_at=from_micros(created),
            expires_at=from_micros(expires) if expires is not None else None,
            deleted=deleted is not None,
            active=deleted is None and rule.active(self._clock.now()),
            hits=SuppressionHits(
                alerts=hits[0], occurrences=hits[1],
                last_at=from_micros(hits[2]) if hits[2] is not None else None,
            ),
        )  # fmt: skip

    # ------------------------------------------------------------------------------- aggregation

    def aggregation_rules(self) -> list[AggregationRulePublic]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT rule_id, fields, updated_by, updated_at FROM aggregation_rules "
                "ORDER BY rule_id"
            ).fetchall()
        return [_aggregation(r) for r in rows]

    def set_aggregation(
        self, actor: Principal, rule_id: str, body: AggregationRule
    ) -> AggregationRulePublic:
        with self._db.write() as conn:
            before = self._aggregation(conn, rule_id)
            conn.execute(
                "INSERT INTO aggregation_rules (rule_id, fields, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (rule_id) DO UPDATE SET fields = excluded.fields, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (rule_id, orjson.dumps(body.fields).decode(), actor.name,
                 micros(self._clock.now())),
            )  # fmt: skip
            after = self._aggregation(conn, rule_id)
            assert after is not None
            self._audit.append(
                conn, actor, "aggregation.set", "aggregation", rule_id,
                before.model_dump(mode="json") if before else None, after.model_dump(mode="json"),
            )  # fmt: skip
        return after

    def delete_aggregation(self, actor: Principal, rule_id: str) -> None:
        with self._db.write() as conn:
            before = self._aggregation(conn, rule_id)
            if before is None:
                raise Missing(f"no aggregation keys set for rule {rule_id!r}")
            conn.execute("DELETE FROM aggregation_rules WHERE rule_id = ?", (rule_id,))
            self._audit.append(
                conn, actor, "aggregation.delete", "aggregation", rule_id,
                before.model_dump(mode="json"), None,
            )  # fmt: skip

    def _aggregation(self, conn: sqlite3.Connection, rule_id: str) -> AggregationRulePublic | None:
        row = conn.execute(
            "SELECT rule_id, fields, updated_by, updated_at FROM aggregation_rules "
            "WHERE rule_id = ?",
            (rule_id,),
        ).fetchone()
        return None if row is None else _aggregation(row)


def aggregation_fields(db: ServiceDatabase) -> dict[str, list[str]]:
    """Aggregation keys per rule as set through the API (for the composition root)."""
    with db.read() as conn:
        rows = conn.execute("SELECT rule_id, fields FROM aggregation_rules").fetchall()
    return {rule_id: list(orjson.loads(fields)) for rule_id, fields in rows}


def _aggregation(row: tuple[Any, ...]) -> AggregationRulePublic:
    rule_id, fields, by, at = row
    return AggregationRulePublic(
        rule_id=rule_id, fields=orjson.loads(fields), updated_by=by, updated_at=from_micros(at)
    )


def _net(cidr: str | None) -> IpNetwork | None:
    return None if cidr is None else ipaddress.ip_network(cidr)


def _doc(public: SuppressionPublic) -> dict[str, Any]:
    return public.model_dump(mode="json", exclude={"hits", "active"})

"""``SqliteAlertStore``: alerts, flows and the triage log in one SQLite file (the default store).

One connection per store, guarded by a lock so the API's worker threads can share it. Every write
is one ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read, so a
read-modify-write (an upsert meeting an analyst's triage change from another process) cannot lose
either side.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Self

from pydantic import Field

from alerts.model import MAX_COMMENTS, Alert, CloseReason, Comment, TriageStatus
from alerts.stores.base import (
    AlertPage,
    AlertQuery,
    AlertStore,
    FlowQuery,
    TriageChange,
    check_version,
    encode_cursor,
    new_comment,
    refresh,
)
from alerts.stores.buckets import AggregateBy, AlertBucket
from alerts.stores.records import RecordKind, check_kind, record_doc_id
from alerts.stores.sqlite_buckets import aggregate
from alerts.stores.sqlite_query import (
    BUMP_SPAN,
    INSERT_FLOW,
    UPSERT_ALERT,
    alert_row,
    alert_where,
    dumps,
    flow_row,
    flow_where,
    from_micros,
    micros,
)
from alerts.stores.sqlite_schema import LATEST_VERSION, connect, migrate
from alerts.triage import TriageError, apply_triage
from cityshield.clock import Clock, SystemClock
from cityshield.errors import ConfigError, NotFoundError, StoreError
from cityshield.settings import Section

#: Rows built per executemany call: bounds memory for huge iterables, all in one transaction.
_FLOW_CHUNK = 10_000
#: Ids per ``IN (...)``; well under SQLite's parameter limit.
_ID_CHUNK = 500


_first = itemgetter(0)
#: Positions of first_seen and last_seen in ``alert_row``; keys of the longest spans stored.
_FIRST, _LAST = 5, 6
_ALERT_SPAN, _FLOW_SPAN = "alert_max_span_us", "flow_max_span_us"


class SqliteStoreSettings(Section):
    #: The database file (created with its directories), or ``:memory:``.
    path: str = "cityshield.db"
    #: How long a writer waits for another process's transaction before failing.
    busy_timeout_ms: int = Field(default=5000, ge=0)
    #: SQLite page cache per connection.
    cache_mib: int = Field(default=64, ge=1)


class SqliteAlertStore(AlertStore):
    id = "sqlite"
    settings_class = SqliteStoreSettings

    def __init__(
        self,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        busy_timeout_ms: int = 5000,
        cache_mib: int = 64,
    ) -> None:
        self._where = os.fspath(path)
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._db = connect(self._where, busy_timeout_ms=busy_timeout_ms, cache_mib=cache_mib)
        try:
            migrate(self._db, self._where)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def from_settings(cls, settings: Section, clock: Clock) -> Self:
        if not isinstance(settings, SqliteStoreSettings):
            raise ConfigError(f"expected SqliteStoreSettings, got {type(settings).__name__}")
        return cls(
            settings.path,
            clock,
            busy_timeout_ms=settings.busy_timeout_ms,
            cache_mib=settings.cache_mib,
        )

    @property
    def path(self) -> Path | None:
        return None if self._where == ":memory:" else Path(self._where)

    # ------------------------------------------------------------------------------------ alerts

    def upsert_alerts(self, alerts: Iterable[Alert]) -> int:
        incoming: dict[str, Alert] = {}
        for alert in alerts:
            seen = incoming.get(alert.id)
            incoming[alert.id] = alert if seen is None else refresh(seen, alert)
        if not incoming:
            return 0
        with self._write() as db:
            stored = self._load_alerts(db, list(incoming))
            rows = [
                alert_row(refresh(stored[i], a) if i in stored else a) for i, a in incoming.items()
            ]
            db.executemany(UPSERT_ALERT, rows)
            db.execute(BUMP_SPAN, (_ALERT_SPAN, max(r[_LAST] - r[_FIRST] for r in rows)))
            # A new alert keeps the triage it came with (a refresh keeps the stored one).
            db.executemany(
                "INSERT OR IGNORE INTO alert_tags (tag, alert_id) VALUES (?, ?)",
                [(t, i) for i, a in incoming.items() if i not in stored for t in a.triage.tags],
            )
        return len(rows)

    def get_alert(self, alert_id: str) -> Alert:
        with self._read() as db:
            found = self._load_alerts(db, [alert_id])
        if alert_id not in found:
            raise NotFoundError(f"no alert with id {alert_id!r}", where=self._where)
        return found[alert_id]

    def query_alerts(self, query: AlertQuery) -> AlertPage:
        with self._snapshot() as db:
            where = alert_where(query, max_span_us=_span(db, _ALERT_SPAN))
            sql = where.statement(
                "SELECT doc FROM alerts", " ORDER BY last_seen DESC, id DESC LIMIT ?"
            )
            docs = db.execute(sql, [*where.params, query.limit + 1]).fetchall()
        items = [self._alert(doc) for (doc,) in docs[: query.limit]]
        more = len(docs) > query.limit
        last = items[-1] if more else None
        return AlertPage(
            items=items, next_cursor=encode_cursor(last.last_seen, last.id) if last else None
        )

    def count_alerts(self, query: AlertQuery) -> int:
        with self._snapshot() as db:
            where = alert_where(query, keyset=False, max_span_us=_span(db, _ALERT_SPAN))
            row = db.execute(
                where.statement("SELECT count(*) FROM alerts"), where.params
            ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------------------------ triage

    def update_triage(
        self,
        alert_id: str,
        *,
        status: TriageStatus | None = None,
        assignee: str | None = None,
        close_reason: CloseReason | None = None,
        tags: Iterable[str] | None = None,
        tags_add: Iterable[str] = (),
        tags_remove: Iterable[str] = (),
        expected_version: int | None = None,
        actor: str,
    ) -> Alert:
        if not actor.strip():
            raise TriageError("a triage change needs an actor", where=alert_id)
        with self._write() as db:
            alert = self._locked_alert(db, alert_id, expected_version)
            now = self._clock.now()
            triage = apply_triage(
                alert.triage,
                status=status,
                assignee=assignee,
                close_reason=close_reason,
                tags=tags,
                tags_add=tags_add,
                tags_remove=tags_remove,
                at=now,
            )
            if triage is alert.triage:
                return alert
            updated = alert.model_copy(update={"triage": triage, "version": alert.version + 1})
            self._save_analyst_change(db, updated)
            if triage.tags != alert.triage.tags:
                db.execute("DELETE FROM alert_tags WHERE alert_id = ?", (alert_id,))
                db.executemany(
                    "INSERT INTO alert_tags (tag, alert_id) VALUES (?, ?)",
                    [(tag, alert_id) for tag in triage.tags],
                )
            self._log(
                db,
                alert_id,
                actor,
                now,
                alert.triage.model_dump(mode="json"),
                triage.model_dump(mode="json"),
            )
        return updated

    def add_comment(
        self, alert_id: str, *, author: str, text: str, expected_version: int | None = None
    ) -> Comment:
        if not author.strip():
            raise TriageError("a comment needs an author", where=alert_id)
        if not text.strip():
            raise TriageError("a comment needs some text", where=alert_id)
        with self._write() as db:
            alert = self._locked_alert(db, alert_id, expected_version)
            if len(alert.comments) >= MAX_COMMENTS:
                raise TriageError(
                    f"the alert has {len(alert.comments)} comments, the most one alert keeps",
                    where=alert_id,
                )
            try:
                comment = new_comment(alert, author=author, text=text, at=self._clock.now())
            except ValueError as exc:
                raise TriageError(f"not a valid comment: {exc}", where=alert_id) from None
            updated = alert.model_copy(
                update={"comments": [*alert.comments, comment], "version": alert.version + 1}
            )
            self._save_analyst_change(db, updated)
            self._log(
                db, alert_id, author, comment.at, {}, {"comment": comment.model_dump(mode="json")}
            )
        return comment

    def triage_history(self, alert_id: str) -> list[TriageChange]:
        with self._read() as db:
            rows = db.execute(
                "SELECT actor, at, before, after FROM triage_log WHERE alert_id = ? ORDER BY seq",
                (alert_id,),
            ).fetchall()
        return [
            TriageChange(
                alert_id=alert_id,
                actor=actor,
                at=from_micros(at),
                before=json.loads(before),
                after=json.loads(after),
            )
            for actor, at, before, after in rows
        ]

    def append_triage_log(self, alert_id: str, changes: Sequence[TriageChange]) -> int:
        with self._write() as db:
            row = db.execute("SELECT count(*) FROM triage_log WHERE alert_id = ?", (alert_id,))
            have = int(row.fetchone()[0])
            for change in changes[have:]:
                self._log(db, alert_id, change.actor, change.at, change.before, change.after)
        return max(0, len(changes) - have)

    # --------------------------------------------------------------------------- console, records

    def aggregate_alerts(
        self,
        query: AlertQuery,
        by: AggregateBy,
        *,
        interval: timedelta | None = None,
        size: int = 10,
    ) -> list[AlertBucket]:
        with self._snapshot() as db:
            span = _span(db, _ALERT_SPAN)
            return aggregate(db, query, by, interval=interval, size=size, max_span_us=span)

    def add_records(self, kind: RecordKind, docs: Iterable[Mapping[str, Any]]) -> int:
        kind = check_kind(kind)
        added = 0
        iterator = iter(docs)
        now = micros(self._clock.now())
        with self._write() as db:
            while chunk := list(islice(iterator, _FLOW_CHUNK)):
                rows = []
                for doc in chunk:
                    try:
                        rows.append(
                            (kind, record_doc_id(kind, doc), _record_time(doc, now), dumps(doc))
                        )
                    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
                        raise StoreError(
                            f"{kind} record #{added + len(rows)} of the batch is not a JSON "
                            f"document: {exc!r}; nothing of the batch was stored",
                            where=self._where,
                        ) from exc
                db.executemany(
                    "INSERT OR REPLACE INTO records (kind, id, at, doc) VALUES (?, ?, ?, ?)", rows
                )
                added += len(rows)
        return added

    # ------------------------------------------------------------------------------------- flows

    def add_flows(self, docs: Iterable[Mapping[str, Any]]) -> int:
        added = 0
        iterator = iter(docs)
        with self._write() as db:
            while chunk := list(islice(iterator, _FLOW_CHUNK)):
                rows = []
                try:
                    for doc in chunk:
                        rows.append(flow_row(doc))
                except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
                    raise StoreError(
                        f"flow #{added + len(rows)} of the batch is not a flow document: {exc!r}; "
                        "nothing of the batch was stored",
                        where=self._where,
                    ) from exc
                # Inserting in key order keeps the primary-key B-tree's writes local.
                rows.sort(key=_first)
                db.executemany(INSERT_FLOW, rows)
                db.execute(BUMP_SPAN, (_FLOW_SPAN, max(r[2] - r[1] for r in rows)))
                added += len(rows)
        return added

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute("SELECT doc FROM flows WHERE id = ?", (flow_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no flow with id {flow_id!r}", where=self._where)
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    def query_flows(self, query: FlowQuery) -> list[dict[str, Any]]:
        with self._snapshot() as db:
            where = flow_where(query, max_span_us=_span(db, _FLOW_SPAN))
            sql = where.statement("SELECT doc FROM flows", " ORDER BY end_us DESC, id DESC LIMIT ?")
            rows = db.execute(sql, [*where.params, query.limit]).fetchall()
        return [json.loads(doc) for (doc,) in rows]

    # ----------------------------------------------------------------------------------- general

    def stats(self) -> dict[str, int]:
        with self._read() as db:
            counts = dict(db.execute("SELECT status, count(*) FROM alerts GROUP BY status"))
            flows = db.execute("SELECT count(*) FROM flows").fetchone()[0]
            log = db.execute("SELECT count(*) FROM triage_log").fetchone()[0]
            records = db.execute("SELECT count(*) FROM records").fetchone()[0]
        by_status = {f"alerts_{s.value}": int(counts.get(s.value, 0)) for s in TriageStatus}
        return {
            "alerts": sum(by_status.values()),
            **by_status,
            "flows": int(flows),
            "triage_changes": int(log),
            "records": int(records),
            "schema_version": LATEST_VERSION,
        }

    def close(self) -> None:
        with self._lock:
            # Recommended by SQLite before closing a long-lived connection: keeps the query
            # planner's statistics current at almost no cost. Closing must not fail, so an error
            # (closed already, file gone) is ignored.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA optimize")
            self._db.close()

    # ---------------------------------------------------------------------------------- internal

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: the longest span and the query that relies on it see the same
        state, even while another process writes."""
        with self._read() as db:
            db.execute("BEGIN")
            try:
                yield db
            finally:
                if db.in_transaction:
                    db.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                # SQLite may have rolled back already (a full disk, an interrupt).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}", where=self._where) from exc

    def _locked_alert(
        self, db: sqlite3.Connection, alert_id: str, expected_version: int | None
    ) -> Alert:
        """The alert an analyst changes, read inside the write transaction (``BEGIN IMMEDIATE``
        holds the write lock, so no other writer can change it between this read and the
        write): that is what makes the version check and the change one atomic step."""
        alert = self._load_alerts(db, [alert_id]).get(alert_id)
        if alert is None:
            raise NotFoundError(f"no alert with id {alert_id!r}", where=self._where)
        check_version(alert, expected_version, self._where)
        return alert

    def _save_analyst_change(self, db: sqlite3.Connection, alert: Alert) -> None:
        db.execute(
            "UPDATE alerts SET status = ?, assignee = ?, version = ?, doc = ? WHERE id = ?",
            (
                alert.triage.status.value,
                alert.triage.assignee,
                alert.version,
                dumps(alert.to_ecs()),
                alert.id,
            ),
        )

    def _log(
        self,
        db: sqlite3.Connection,
        alert_id: str,
        actor: str,
        at: datetime,
        before: dict[str, Any],
        after: dict[str, Any],
    ) -> None:
        db.execute(
            "INSERT INTO triage_log (alert_id, actor, at, before, after) VALUES (?, ?, ?, ?, ?)",
            (alert_id, actor, micros(at), dumps(before), dumps(after)),
        )

    def _load_alerts(self, db: sqlite3.Connection, ids: list[str]) -> dict[str, Alert]:
        found: dict[str, Alert] = {}
        for i in range(0, len(ids), _ID_CHUNK):
            chunk = ids[i : i + _ID_CHUNK]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT doc FROM alerts WHERE id IN ({marks})"  # noqa: S608 - placeholders only
            for (doc,) in db.execute(sql, chunk):
                alert = self._alert(doc)
                found[alert.id] = alert
        return found

    def _alert(self, doc: str) -> Alert:
        try:
            return Alert.from_ecs(json.loads(doc))
        except ValueError as exc:
            raise StoreError(f"a stored alert cannot be read: {exc}", where=self._where) from exc


def _record_time(doc: Mapping[str, Any], default: int) -> int:
    """A record's ``@timestamp`` in microseconds; ``default`` (now) when it has none."""
    stamp = doc.get("@timestamp")
    if not isinstance(stamp, str):
        return default
    at = datetime.fromisoformat(stamp)
    if at.tzinfo is None:
        raise ValueError(f"@timestamp without a time zone: {stamp!r}")
    return micros(at)


def _span(db: sqlite3.Connection, key: str) -> int:
    row = db.execute("SELECT value FROM store_meta WHERE key = ?", (key,)).fetchone()
    return int(row[0]) if row else 0

"""``RunStore``: the run database (SQLite, WAL), a file of its own next to the service database.

Kept apart from the API's service database so that the engine, the CLI and the API can share it
without the engine depending on ``api`` (and its migrations stay with the code that owns them).
Every step is written before its action starts and again when it ends, each in its own committed
transaction: after a crash the database says exactly which steps finished.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from cityshield.errors import StoreError
from response.models import (
    ApprovalRecord,
    ApprovalState,
    Decision,
    RunDetail,
    RunEvent,
    RunState,
    RunSummary,
    StepRecord,
    StepState,
)

SCHEMA_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, playbook_id TEXT NOT NULL, playbook_version INTEGER NOT NULL,
    playbook TEXT NOT NULL, state TEXT NOT NULL, dry_run INTEGER NOT NULL,
    started_by TEXT NOT NULL, started_role TEXT NOT NULL, alert TEXT, alert_id TEXT,
    case_id TEXT, case_doc TEXT, inputs TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
CREATE INDEX runs_state ON runs (state, updated_at);
CREATE INDEX runs_alert ON runs (alert_id, playbook_id);
CREATE TABLE steps (
    run_id TEXT NOT NULL REFERENCES runs (id), key TEXT NOT NULL, step_id TEXT NOT NULL,
    idx INTEGER NOT NULL, item TEXT, action TEXT, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, params TEXT, plan TEXT, result TEXT, error TEXT,
    started_at INTEGER, finished_at INTEGER, PRIMARY KEY (run_id, key)
);
CREATE TABLE approvals (
    id TEXT PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs (id), step_key TEXT NOT NULL,
    state TEXT NOT NULL, reason TEXT NOT NULL, roles TEXT NOT NULL, users TEXT NOT NULL,
    required INTEGER NOT NULL, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX approvals_run ON approvals (run_id, step_key);
CREATE INDEX approvals_state ON approvals (state, expires_at);
CREATE TABLE decisions (
    approval_id TEXT NOT NULL REFERENCES approvals (id), actor TEXT NOT NULL,
    role TEXT NOT NULL, decision TEXT NOT NULL, comment TEXT NOT NULL, at INTEGER NOT NULL,
    PRIMARY KEY (approval_id, actor)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, at INTEGER NOT NULL,
    kind TEXT NOT NULL, step_key TEXT, actor TEXT NOT NULL, detail TEXT
);
CREATE INDEX events_run ON events (run_id, seq);
"""


_RUNS = (
    "SELECT id, playbook_id, playbook_version, state, dry_run, started_by, alert_id, case_id, "
    "reason, created_at, updated_at FROM runs"
)
_APPROVALS = (
    "SELECT a.id, a.run_id, r.playbook_id, a.step_key, a.state, a.reason, a.roles, a.users, "
    "a.required, a.expires_at, a.created_at FROM approvals a JOIN runs r ON r.id = a.run_id"
)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _US


def _j(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _l(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)


class RunStore:
    def __init__(self, path: str, *, busy_timeout_ms: int = 10_000) -> None:
        self.where = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL").fetchone()
            self._db.execute("PRAGMA synchronous = FULL")  # a finished step survives power loss
            with self.write() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"run database version {version} is newer than this CityShield"
                    )
                if version == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run database: {exc}", where=path) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"run database: {exc}", where=self.where) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ----------------------------------------------------------------------------------- runs

    def create_run(
        self,
        *,
        playbook: dict[str, Any],
        state: RunState,
        dry_run: bool,
        started_by: str,
        started_role: str,
        alert: dict[str, Any] | None,
        case_id: str | None,
        inputs: dict[str, Any],
        at: datetime,
        case: dict[str, Any] | None = None,
    ) -> str:
        run_id = "run_" + secrets.token_hex(8)
        with self.write() as db:
            db.execute(
                "INSERT INTO runs (id, playbook_id, playbook_version, playbook, state, dry_run, "
                "started_by, started_role, alert, alert_id, case_id, case_doc, inputs, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    playbook["id"],
                    playbook.get("version", 1),
                    _j(playbook),
                    state.value,
                    int(dry_run),
                    started_by,
                    started_role,
                    _j(alert),
                    None if alert is None else alert.get("id"),
                    case_id,
                    _j(case),
                    _j(inputs),
                    micros(at),
                    micros(at),
                ),
            )
        return run_id

    def has_run(self, alert_id: str, playbook_id: str) -> bool:
        with self.read() as db:
            row = db.execute(
                "SELECT 1 FROM runs WHERE alert_id = ? AND playbook_id = ? AND dry_run = 0 LIMIT 1",
                (alert_id, playbook_id),
            ).fetchone()
        return row is not None

    def run_row(self, run_id: str) -> dict[str, Any]:
        with self.read() as db:
            row = db.execute(
                "SELECT id, playbook_id, playbook_version, playbook, state, dry_run, started_by, "
                "started_role, alert, alert_id, case_id, case_doc, inputs, reason, created_at, "
                "updated_at FROM runs WHERE id = ?",
                (run_id,),
            ).fetchone()
        if row is None:
            from cityshield.errors import NotFoundError

            raise NotFoundError(f"no run {run_id!r}")
        keys = (
            "id",
            "playbook_id",
            "playbook_version",
            "playbook",
            "state",
            "dry_run",
            "started_by",
            "started_role",
            "alert",
            "alert_id",
            "case_id",
            "case",
            "inputs",
            "reason",
            "created_at",
            "updated_at",
        )
        out = dict(zip(keys, row, strict=True))
        for k in ("playbook", "alert", "case", "inputs"):
            out[k] = _l(out[k])
        out["state"] = RunState(out["state"])
        out["dry_run"] = bool(out["dry_run"])
        return out

    def set_state(
        self,
        run_id: str,
        state: RunState,
        reason: str,
        at: datetime,
        *,
        only_from: frozenset[RunState] | None = None,
    ) -> bool:
        """Change a run's state; with ``only_from`` only from those states (a cancel wins)."""
        sql = "UPDATE runs SET state = ?, reason = ?, updated_at = ? WHERE id = ?"
        params: list[Any] = [state.value, reason[:2000], micros(at), run_id]
        if only_from is not None:
            sql += f" AND state IN ({', '.join('?' * len(only_from))})"
            params.extend(s.value for s in only_from)
        with self.write() as db:
            return db.execute(sql, params).rowcount == 1

    def set_case(self, run_id: str, case_id: str) -> None:
        with self.write() as db:
            db.execute("UPDATE runs SET case_id = ? WHERE id = ?", (case_id, run_id))

    def run_ids(self, states: frozenset[RunState]) -> list[str]:
        with self.read() as db:
            rows = db.execute(
                f"SELECT id FROM runs WHERE state IN ({', '.join('?' * len(states))}) "  # noqa: S608
                "ORDER BY created_at",
                [s.value for s in states],
            ).fetchall()
        return [r[0] for r in rows]

    def runs(
        self,
        *,
        state: RunState | None = None,
        playbook_id: str | None = None,
        alert_id: str | None = None,
        case_id: str | None = None,
        limit: int = 50,
    ) -> list[RunSummary]:
        conditions, params = [], []
        for column, value in (
            ("state", None if state is None else state.value),
            ("playbook_id", playbook_id),
            ("alert_id", alert_id),
            ("case_id", case_id),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        # Constant fragments only; every value is a parameter.
        sql = _RUNS + where + " ORDER BY created_at DESC, id DESC LIMIT ?"
        with self.read() as db:
            rows = db.execute(sql, [*params, limit]).fetchall()
        return [_summary(r) for r in rows]

    def detail(self, run_id: str) -> RunDetail:
        row = self.run_row(run_id)
        summary = RunSummary(
            id=row["id"],
            playbook_id=row["playbook_id"],
            playbook_version=row["playbook_version"],
            state=row["state"],
            dry_run=row["dry_run"],
            started_by=row["started_by"],
            alert_id=row["alert_id"],
            case_id=row["case_id"],
            reason=row["reason"],
            created_at=from_micros(row["created_at"]),
            updated_at=from_micros(row["updated_at"]),
        )
        return RunDetail(
            **summary.model_dump(),
            inputs=row["inputs"],
            steps=self.steps(run_id),
            approvals=self.approvals(run_id=run_id),
        )

    # ---------------------------------------------------------------------------------- steps

    def steps(self, run_id: str) -> list[StepRecord]:
        with self.read() as db:
            rows = db.execute(
                "SELECT key, step_id, idx, item, action, state, attempts, params, plan, result, "
                "error, started_at, finished_at FROM steps WHERE run_id = ? ORDER BY idx, key",
                (run_id,),
            ).fetchall()
        out = []
        for r in rows:
            started = from_micros(r[11]) if r[11] is not None else None
            finished = from_micros(r[12]) if r[12] is not None else None
            out.append(
                StepRecord(
                    key=r[0],
                    step_id=r[1],
                    index=r[2],
                    item=_l(r[3]),
                    action=r[4],
                    state=StepState(r[5]),
                    attempts=r[6],
                    params=_l(r[7]),
                    plan=r[8],
                    result=_l(r[9]),
                    error=r[10],
                    started_at=started,
                    finished_at=finished,
                    duration_ms=(r[12] - r[11]) // 1000
                    if r[11] is not None and r[12] is not None
                    else None,
                )
            )
        return out

    def put_step(
        self,
        run_id: str,
        key: str,
        *,
        step_id: str,
        index: int,
        state: StepState,
        at: datetime,
        item: Any = None,
        action: str | None = None,
        params: Any = None,
        plan: str | None = None,
        result: Any = None,
        error: str | None = None,
        attempt: bool = False,
        finished: bool = False,
    ) -> None:
        """Write a step's record; ``attempt`` counts a new try and sets ``started_at``."""
        now = micros(at)
        with self.write() as db:
            db.execute(
                "INSERT INTO steps (run_id, key, step_id, idx, state) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, key) DO NOTHING",
                (run_id, key, step_id, index, state.value),
            )
            db.execute(
                "UPDATE steps SET state = ?, item = coalesce(?, item), "
                "action = coalesce(?, action), params = coalesce(?, params), "
                "plan = coalesce(?, plan), result = ?, error = ?, attempts = attempts + ?, "
                "started_at = CASE WHEN ? THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? THEN ? ELSE NULL END WHERE run_id = ? AND key = ?",
                (
                    state.value,
                    _j(item),
                    action,
                    _j(params),
                    plan,
                    _j(result),
                    error,
                    int(attempt),
                    int(attempt),
                    now,
                    int(finished),
                    now,
                    run_id,
                    key,
                ),
            )
            db.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (now, run_id))

    def delete_step(self, run_id: str, key: str) -> None:
        with self.write() as db:
            db.execute("DELETE FROM steps WHERE run_id = ? AND key = ?", (run_id, key))

    def reset_step(self, run_id: str, key: str) -> None:
        """Forget a step's outcome so that the engine runs it again (a person's retry)."""
        with self.write() as db:
            db.execute(
                "UPDATE steps SET state = 'retry', error = NULL, result = NULL, finished_at = NULL "
                "WHERE run_id = ? AND key = ?",
                (run_id, key),
            )

    # ------------------------------------------------------------------------------ approvals

    def create_approval(
        self,
        run_id: str,
        step_key: str,
        *,
        reason: str,
        roles: list[str],
        users: list[str],
        required: int,
        expires_at: datetime,
        at: datetime,
    ) -> str:
        approval_id = "apr_" + secrets.token_hex(8)
        with self.write() as db:
            db.execute(
                "INSERT INTO approvals (id, run_id, step_key, state, reason, roles, users, "
                "required, expires_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                (
                    approval_id,
                    run_id,
                    step_key,
                    reason,
                    _j(roles),
                    _j(users),
                    required,
                    micros(expires_at),
                    micros(at),
                ),
            )
        return approval_id

    def approvals(
        self,
        *,
        run_id: str | None = None,
        state: ApprovalState | None = None,
        approval_id: str | None = None,
        limit: int = 200,
    ) -> list[ApprovalRecord]:
        conditions, params = [], []
        for column, value in (("a.run_id", run_id), ("a.state", state), ("a.id", approval_id)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(str(value))
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        with self.read() as db:
            # Constant fragments only; every value is a parameter.
            sql = _APPROVALS + where + " ORDER BY a.created_at, a.rowid LIMIT ?"
            rows = db.execute(
                sql,
                [*params, limit],
            ).fetchall()
            out = []
            for r in rows:
                decisions = [
                    Decision(
                        actor=d[0], role=d[1], decision=d[2], comment=d[3], at=from_micros(d[4])
                    )
                    for d in db.execute(
                        "SELECT actor, role, decision, comment, at FROM decisions "
                        "WHERE approval_id = ? ORDER BY at",
                        (r[0],),
                    )
                ]
                out.append(
                    ApprovalRecord(
                        id=r[0],
                        run_id=r[1],
                        playbook_id=r[2],
                        step_key=r[3],
                        state=ApprovalState(r[4]),
                        reason=r[5],
                        roles=_l(r[6]),
                        users=_l(r[7]),
                        required=r[8],
                        expires_at=from_micros(r[9]),
                        created_at=from_micros(r[10]),
                        decisions=decisions,
                        approvals=sum(d.decision == "approve" for d in decisions),
                    )
                )
        return out

    def add_decision(
        self,
        approval_id: str,
        *,
        actor: str,
        role: str,
        decision: str,
        comment: str,
        at: datetime,
        new_state: ApprovalState | None,
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO decisions (approval_id, actor, role, decision, comment, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (approval_id, actor, role, decision, comment, micros(at)),
            )
            if new_state is not None:
                db.execute(
                    "UPDATE approvals SET state = ? WHERE id = ? AND state = 'pending'",
                    (new_state.value, approval_id),
                )

    def set_approval_state(self, approval_id: str, state: ApprovalState) -> bool:
        with self.write() as db:
            return (
                db.execute(
                    "UPDATE approvals SET state = ? WHERE id = ? AND state = 'pending'",
                    (state.value, approval_id),
                ).rowcount
                == 1
            )

    # --------------------------------------------------------------------------------- events

    def event(
        self,
        run_id: str,
        kind: str,
        *,
        actor: str,
        at: datetime,
        step_key: str | None = None,
        detail: Any = None,
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO events (run_id, at, kind, step_key, actor, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, micros(at), kind, step_key, actor, _j(detail)),
            )

    def events(self, run_id: str) -> list[RunEvent]:
        with self.read() as db:
            rows = db.execute(
                "SELECT seq, at, kind, step_key, actor, detail FROM events WHERE run_id = ? "
                "ORDER BY seq",
                (run_id,),
            ).fetchall()
        return [
            RunEvent(
                seq=r[0],
                at=from_micros(r[1]),
                kind=r[2],
                step_key=r[3],
                actor=r[4],
                detail=_l(r[5]),
            )
            for r in rows
        ]


def _summary(r: tuple[Any, ...]) -> RunSummary:
    return RunSummary(
        id=r[0],
        playbook_id=r[1],
        playbook_version=r[2],
        state=RunState(r[3]),
        dry_run=bool(r[4]),
        started_by=r[5],
        alert_id=r[6],
        case_id=r[7],
        reason=r[8],
        created_at=from_micros(r[9]),
        updated_at=from_micros(r[10]),
    )

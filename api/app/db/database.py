"""``ServiceDatabase``: one SQLite connection (WAL) behind a lock, with read and write scopes.

FastAPI runs the routes in a thread pool; one connection guarded by a lock is what the alert
store does too. Every write is one ``BEGIN IMMEDIATE`` transaction, so a read-modify-write (a
case update, a token check and its ``last_used_at``) is never interleaved with another process's.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.app.db.schema import MIGRATIONS
from cityshield.errors import StoreError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


class ServiceDatabase:
    def __init__(self, path: str, *, busy_timeout_ms: int = 5000) -> None:
        self.where = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode = WAL").fetchone()
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the service database: {exc}", where=path) from exc
        try:
            self.version = self._migrate()
        except BaseException:
            self._db.close()
            raise

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

    def ping(self) -> None:
        """Raise ``StoreError`` unless the database answers (readiness)."""
        with self.read() as db:
            db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            self._db.execute("PRAGMA optimize")
            self._db.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}", where=self.where) from exc

    def _migrate(self) -> int:
        db = self._db
        while True:
            with self._errors():
                db.execute("BEGIN IMMEDIATE")
                try:
                    version: int = db.execute("PRAGMA user_version").fetchone()[0]
                    if version > len(MIGRATIONS):
                        raise StoreError(
                            f"the service database has schema version {version}, written by a "
                            f"newer CityShield (this one knows up to {len(MIGRATIONS)})",
                            where=self.where,
                        )
                    tables = db.execute(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                    ).fetchone()[0]
                    if version == 0 and tables:
                        raise StoreError(
                            "a SQLite database, but not a CityShield service database",
                            where=self.where,
                        )
                    if version == len(MIGRATIONS):
                        db.execute("COMMIT")
                        return version
                    for statement in MIGRATIONS[version]:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version + 1}")
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

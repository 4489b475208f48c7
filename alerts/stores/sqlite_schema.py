"""The SQLite store's schema as numbered migrations, and opening a database safely.

``PRAGMA user_version`` records how many migrations a database has had. Each migration runs in its
own ``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash leaves the database
at a whole version, and two processes opening a fresh database at once cannot apply a step twice
(the second one waits for the write lock, then sees the new version). A database from a newer
CityShield is refused rather than guessed at: an older binary might corrupt what it does not know.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from cityshield.errors import StoreError

#: Migration n (1-based) is ``MIGRATIONS[n - 1]``: SQL statements applied in order. Never edit a
#: released step; add a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: alerts and flows. Every filter of AlertQuery/FlowQuery has an indexed column; the full
    # document is kept as JSON. Times are integer microseconds since the epoch (UTC); addresses are
    # 16-byte BLOBs (IPv4 as IPv4-mapped IPv6) so that a CIDR filter is a BETWEEN on an index.
    (
        """CREATE TABLE alerts (
            id TEXT PRIMARY KEY NOT NULL,
            rule_id TEXT NOT NULL,
            rule_name TEXT NOT NULL,
            severity INTEGER NOT NULL,
            risk_score REAL NOT NULL,
            first_seen INTEGER NOT NULL,
            last_seen INTEGER NOT NULL,
            status TEXT NOT NULL,
            assignee TEXT,
            observer TEXT NOT NULL,
            community_id TEXT,
            src_ip BLOB,
            dst_ip BLOB,
            message TEXT NOT NULL,
            count INTEGER NOT NULL,
            doc TEXT NOT NULL
        )""",
        # (last_seen, id) is the page order. The others serve one filter each; a filter on a column
        # with few values (status, severity, observer) also carries the time, so that "open alerts,
        # newest first" reads one index range in order instead of sorting.
        "CREATE INDEX alerts_last_seen ON alerts (last_seen, id)",
        "CREATE INDEX alerts_first_seen ON alerts (first_seen)",
        "CREATE INDEX alerts_rule_id ON alerts (rule_id, last_seen, id)",
        "CREATE INDEX alerts_severity ON alerts (severity, last_seen, id)",
        "CREATE INDEX alerts_status ON alerts (status, last_seen, id)",
        "CREATE INDEX alerts_observer ON alerts (observer, last_seen, id)",
        "CREATE INDEX alerts_community_id ON alerts (community_id)",
        "CREATE INDEX alerts_src_ip ON alerts (src_ip)",
        "CREATE INDEX alerts_dst_ip ON alerts (dst_ip)",
        """CREATE TABLE flows (
            id TEXT PRIMARY KEY NOT NULL,
            start_us INTEGER NOT NULL,
            end_us INTEGER NOT NULL,
            community_id TEXT,
            transport TEXT,
            src_ip BLOB,
            src_port INTEGER,
            dst_ip BLOB,
            dst_port INTEGER,
            conn_state TEXT,
            observer TEXT,
            doc TEXT NOT NULL
        )""",
        "CREATE INDEX flows_end ON flows (end_us, id)",
        "CREATE INDEX flows_start ON flows (start_us)",
        "CREATE INDEX flows_community_id ON flows (community_id)",
        "CREATE INDEX flows_src ON flows (src_ip, src_port)",
        "CREATE INDEX flows_dst ON flows (dst_ip, dst_port)",
        "CREATE INDEX flows_transport ON flows (transport, end_us, id)",
        "CREATE INDEX flows_conn_state ON flows (conn_state, end_us, id)",
        "CREATE INDEX flows_observer ON flows (observer, end_us, id)",
    ),
    # 2: the append-only triage log, the ground the audit log of the API is built on.
    (
        """CREATE TABLE triage_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id TEXT NOT NULL REFERENCES alerts (id),
            actor TEXT NOT NULL,
            at INTEGER NOT NULL,
            before TEXT NOT NULL,
            after TEXT NOT NULL
        )""",
        "CREATE INDEX triage_log_alert ON triage_log (alert_id, seq)",
        # Append-only is enforced by the database, not only by this code: an audit trail that a
        # bug (or a stray script) can rewrite is no audit trail.
        """CREATE TRIGGER triage_log_no_update BEFORE UPDATE ON triage_log
            BEGIN SELECT RAISE(ABORT, 'triage_log is append-only'); END""",
        """CREATE TRIGGER triage_log_no_delete BEFORE DELETE ON triage_log
            BEGIN SELECT RAISE(ABORT, 'triage_log is append-only'); END""",
    ),
    # 3: flows are written by the hundred thousand; every index costs each insert a B-tree
    # update. Transport, state and observer narrow a search little on their own: they filter
    # rows found through the time or address indexes instead.
    (
        "DROP INDEX flows_transport",
        "DROP INDEX flows_conn_state",
        "DROP INDEX flows_observer",
    ),
    # 4: what the HTTP API's analysts add (issue 5). ``version`` counts analyst changes, for
    # optimistic concurrency (the document holds it too; the column makes it visible to SQL).
    # Tags get their own table so that "alerts tagged X" is an index lookup, not a scan of every
    # document. Protocol records (DNS, HTTP, TLS, ...) share one table, keyed by kind and id.
    (
        "ALTER TABLE alerts ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE alert_tags (
            tag TEXT NOT NULL,
            alert_id TEXT NOT NULL REFERENCES alerts (id),
            PRIMARY KEY (tag, alert_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX alert_tags_alert ON alert_tags (alert_id)",
        """CREATE TABLE records (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            at INTEGER NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY (kind, id)
        ) WITHOUT ROWID""",
        "CREATE INDEX records_at ON records (kind, at)",
    ),
    # 5: time ranges that stay ranges. "Overlaps [start, end]" is last >= start AND first <= end:
    # two half-open ranges on two columns, and on a million alerts a one-day window scanned most
    # of an index (1.1 s). The longest span stored (kept up to date by every write) turns it into
    # start <= last <= end + longest span: one bounded range of the (last, id) index. Console
    # aggregations read a covering index instead of the rows with their JSON documents.
    (
        """CREATE TABLE store_meta (
            key TEXT PRIMARY KEY NOT NULL,
            value INTEGER NOT NULL
        ) WITHOUT ROWID""",
        """INSERT INTO store_meta (key, value)
            SELECT 'alert_max_span_us', coalesce(max(last_seen - first_seen), 0) FROM alerts""",
        """INSERT INTO store_meta (key, value)
            SELECT 'flow_max_span_us', coalesce(max(end_us - start_us), 0) FROM flows""",
        """CREATE INDEX alerts_console
            ON alerts (last_seen, first_seen, rule_id, severity, count, src_ip, dst_ip)""",
    ),
)

LATEST_VERSION = len(MIGRATIONS)


def connect(path: str, *, busy_timeout_ms: int, cache_mib: int) -> sqlite3.Connection:
    """An open, configured connection; ``StoreError`` naming the path when it is no database."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        # isolation_level=None: this code issues BEGIN/COMMIT itself, so that reads and writes of
        # one operation share a transaction and writers take the lock up front (BEGIN IMMEDIATE).
        db = sqlite3.connect(
            path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the store: {exc}", where=path) from exc
    try:
        db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        # WAL lets the API read while a sensor batch is written; NORMAL is durable in WAL mode
        # except for the last transactions before a power loss, which the sensors' spool covers.
        db.execute("PRAGMA journal_mode = WAL").fetchone()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        # The default page cache (2 MiB) is far smaller than the indexes a batch of flows touches;
        # 64 MiB made inserting 100k flows 30% faster.
        db.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib)}")
        # Checkpoint the WAL every ~40 MiB instead of every 4 MiB: each checkpoint ends in an fsync,
        # and sensors write flows in batches of thousands (100k flows in batches of 2,000: 5.0 s
        # with the default, 3.6 s with this).
        db.execute("PRAGMA wal_autocheckpoint = 10000")
    except sqlite3.Error as exc:
        db.close()
        raise StoreError(f"not a SQLite database, or unreadable: {exc}", where=path) from exc
    return db


def user_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(
    db: sqlite3.Connection,
    where: str,
    *,
    target: int = LATEST_VERSION,
    migrations: Sequence[Sequence[str]] = MIGRATIONS,
) -> int:
    """Apply the migrations a database lacks, up to ``target``; returns the version it is at."""
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            version = user_version(db)
            if version > len(migrations):
                raise StoreError(
                    f"the store has schema version {version}, written by a newer CityShield; this "
                    f"one knows versions up to {len(migrations)}: upgrade CityShield to open it",
                    where=where,
                )
            if version == 0 and _has_tables(db):
                # user_version 0 with tables is some other program's database: adding ours to it
                # would mix two programs' data in one file.
                raise StoreError("a SQLite database, but not a CityShield store", where=where)
            if version >= target:
                db.execute("COMMIT")
                return version
            for statement in migrations[version]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot migrate the store: {exc}", where=where) from exc
            raise


def _has_tables(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return bool(row[0])

"""The service database's schema as numbered migrations (``PRAGMA user_version``).

Same rules as the alert store's schema: never edit a released step, add one; each step runs in one
``BEGIN IMMEDIATE`` transaction with its version bump; a newer database is refused.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: people, credentials, sensors, ingest batches and the audit log. Times are integer
    # microseconds since the epoch (UTC).
    (
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            role TEXT NOT NULL,
            password_hash TEXT,
            created_at INTEGER NOT NULL,
            disabled_at INTEGER
        )""",
        """CREATE TABLE sensors (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            description TEXT NOT NULL,
            enrolled_at INTEGER NOT NULL,
            enrolled_by TEXT NOT NULL,
            revoked_at INTEGER,
            heartbeats INTEGER NOT NULL DEFAULT 0,
            last_heartbeat_at INTEGER,
            last_stats TEXT
        )""",
        # A token's public id finds its row; only the argon2 hash of its secret is kept.
        """CREATE TABLE tokens (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            user_id INTEGER REFERENCES users (id),
            sensor_id TEXT REFERENCES sensors (id),
            role TEXT NOT NULL,
            secret_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            revoked_at INTEGER,
            last_used_at INTEGER
        )""",
        "CREATE INDEX tokens_user ON tokens (user_id)",
        "CREATE INDEX tokens_sensor ON tokens (sensor_id)",
        """CREATE TABLE ingest_batches (
            sensor_id TEXT NOT NULL REFERENCES sensors (id),
            batch_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            received_at INTEGER NOT NULL,
            result TEXT NOT NULL,
            PRIMARY KEY (sensor_id, batch_id)
        )""",
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            before TEXT,
            after TEXT
        )""",
        "CREATE INDEX audit_object ON audit_log (object_type, object_id, seq)",
        "CREATE INDEX audit_actor ON audit_log (actor, seq)",
        # The database enforces append-only, not only this code (as the store's triage log does).
        """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
        """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    ),
    # 2: noise control (suppressions, thresholds, per-rule aggregation keys) and cases.
    (
        """CREATE TABLE suppressions (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            rule_id TEXT,
            source_cidr TEXT,
            destination_cidr TEXT,
            min_count INTEGER,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            deleted_at INTEGER
        )""",
        """CREATE TABLE suppression_hits (
            suppression_id TEXT NOT NULL REFERENCES suppressions (id),
            alert_id TEXT NOT NULL,
            count INTEGER NOT NULL,
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            PRIMARY KEY (suppression_id, alert_id)
        )""",
        """CREATE TABLE aggregation_rules (
            rule_id TEXT PRIMARY KEY,
            fields TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        )""",
        """CREATE TABLE cases (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            severity TEXT NOT NULL,
            tlp TEXT NOT NULL,
            status TEXT NOT NULL,
            assignee TEXT,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            merged_into TEXT REFERENCES cases (id)
        )""",
        "CREATE INDEX cases_updated ON cases (updated_at, id)",
        """CREATE TABLE case_alerts (
            case_id TEXT NOT NULL REFERENCES cases (id),
            alert_id TEXT NOT NULL,
            added_at INTEGER NOT NULL,
            added_by TEXT NOT NULL,
            PRIMARY KEY (case_id, alert_id)
        )""",
        "CREATE INDEX case_alerts_alert ON case_alerts (alert_id)",
        """CREATE TABLE case_observables (
            case_id TEXT NOT NULL REFERENCES cases (id),
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            alert_id TEXT,
            PRIMARY KEY (case_id, kind, value)
        )""",
        """CREATE TABLE case_comments (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases (id),
            author TEXT NOT NULL,
            at INTEGER NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX case_comments_case ON case_comments (case_id, id)",
    ),
)

LATEST_VERSION = len(MIGRATIONS)

"""The credential registry's schema as numbered migrations (``PRAGMA user_version``).

The rules of the other CityShield databases: never edit a released step, add one; each step runs
in one ``BEGIN IMMEDIATE`` transaction with its version bump; a newer database is refused.
Times are integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: credentials with the certificate in use, their history, the alerts already given,
    # revocations and the CRLs issued for them.
    (
        """CREATE TABLE credentials (
            id TEXT PRIMARY KEY,
            system TEXT NOT NULL,
            owner TEXT NOT NULL,
            host TEXT,
            port INTEGER,
            server_name TEXT,
            starttls TEXT,
            purpose TEXT NOT NULL,
            der BLOB NOT NULL,
            sha256 TEXT NOT NULL,
            issuer TEXT NOT NULL,
            issuer_key_id TEXT NOT NULL,
            not_after INTEGER NOT NULL,
            added_at INTEGER NOT NULL,
            added_by TEXT NOT NULL,
            last_scan_at INTEGER,
            last_scan TEXT,
            last_reasons TEXT NOT NULL DEFAULT '[]',
            last_error TEXT
        )""",
        # One registration per endpoint, and a certificate once per system.
        "CREATE UNIQUE INDEX credentials_endpoint ON credentials (host, port) "
        "WHERE host IS NOT NULL",
        "CREATE UNIQUE INDEX credentials_certificate ON credentials (system, sha256)",
        "CREATE INDEX credentials_name ON credentials (lower(coalesce(server_name, host)))",
        """CREATE TABLE observations (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
            at INTEGER NOT NULL,
            source TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            issuer TEXT NOT NULL,
            previous_sha256 TEXT
        )""",
        "CREATE INDEX observations_credential ON observations (credential_id, seq)",
        # An alert given once per (credential, kind, key): an expiry threshold of a certificate,
        # a revoked certificate in use, an endpoint's failure (cleared when it recovers).
        """CREATE TABLE notices (
            credential_id TEXT NOT NULL REFERENCES credentials (id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            at INTEGER NOT NULL,
            PRIMARY KEY (credential_id, kind, key)
        )""",
        # Revocations outlive the registration: the CRL lists them until the registry is told
        # otherwise, whether or not the credential is still registered.
        """CREATE TABLE revocations (
            sha256 TEXT PRIMARY KEY,
            serial TEXT NOT NULL,
            ca_sha256 TEXT NOT NULL,
            credential_id TEXT NOT NULL,
            system TEXT NOT NULL,
            reason TEXT NOT NULL,
            revoked_at INTEGER NOT NULL,
            revoked_by TEXT NOT NULL
        )""",
        "CREATE INDEX revocations_ca ON revocations (ca_sha256)",
        """CREATE TABLE crls (
            ca_sha256 TEXT NOT NULL,
            number INTEGER NOT NULL,
            issued_at INTEGER NOT NULL,
            next_update INTEGER NOT NULL,
            der BLOB NOT NULL,
            PRIMARY KEY (ca_sha256, number)
        )""",
    ),
)

"""``CredentialRegistry``: the registered credentials of the city's e-government systems in SQLite.

One connection behind a lock (the API calls it from its thread pool, a scan from its workers, a
sensor's detector from the pipeline), WAL, and every write one ``BEGIN IMMEDIATE`` transaction, as
the service database does. The schema is versioned (``pki.registry_schema``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

import orjson
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from cityshield.errors import ConflictError, NotFoundError, StoreError
from pki.encoding import LOOKUP_ERRORS
from pki.issuing import RevokedEntry
from pki.model import CertificateSummary, fingerprint, safe_name
from pki.registry_model import (
    CredentialStatus,
    RegisteredCredential,
    RevocationReason,
)
from pki.registry_schema import MIGRATIONS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
#: Credentials listed at most at once (a city registers hundreds to a few thousand).
MAX_LISTED = 10_000
_SELECT = """SELECT c.id, c.system, c.owner, c.host, c.port, c.server_name, c.starttls, c.purpose,
    c.der, c.added_at, c.added_by, c.last_scan_at, c.last_scan, c.last_reasons, c.last_error,
    r.revoked_at, r.reason
    FROM credentials c LEFT JOIN revocations r ON r.sha256 = c.sha256"""


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _US


def issuer_key_id(cert: x509.Certificate) -> str:
    """The issuer's key identifier (AKI), hexadecimal; empty when the certificate has none."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except LOOKUP_ERRORS:
        return ""
    return (aki.key_identifier or b"").hex()


@dataclass(frozen=True, slots=True)
class NewCredential:
    id: str
    system: str
    owner: str
    host: str | None
    port: int | None
    server_name: str | None
    starttls: str | None
    purpose: str


@dataclass(frozen=True, slots=True)
class RevocationRow:
    sha256: str
    serial: int
    ca_sha256: str
    credential_id: str
    system: str
    reason: RevocationReason
    revoked_at: datetime
    revoked_by: str


@dataclass(frozen=True, slots=True)
class IssuedCrl:
    number: int
    next_update: datetime
    der: bytes


class CredentialRegistry:
    """``lazy``: the file is opened (and made) at the first call, not before: a service that
    never uses its registry leaves no file behind."""

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000, lazy: bool = False) -> None:
        self.where = path
        self._timeout = busy_timeout_ms / 1000
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        if not lazy:
            self._connect()

    @property
    def version(self) -> int:
        with self._read() as db:
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _connect(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is not None:
                return self._db
            try:
                if self.where != ":memory:":
                    Path(self.where).parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.where, timeout=self._timeout, isolation_level=None, check_same_thread=False
                )
                db.execute("PRAGMA journal_mode = WAL").fetchone()
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
            except (sqlite3.Error, OSError) as exc:
                raise StoreError(
                    f"cannot open the credential registry: {exc}", where=self.where
                ) from None
            try:
                self._migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
            return db

    # ------------------------------------------------------------------ credentials

    def add(self, new: NewCredential, cert: x509.Certificate, *, at: datetime, by: str) -> None:
        row = (
            new.id, new.system, new.owner, new.host, new.port, new.server_name, new.starttls,
            new.purpose, cert.public_bytes(Encoding.DER), fingerprint(cert),
            safe_name(cert, "issuer"), issuer_key_id(cert), micros(cert.not_valid_after_utc),
            micros(at), by,
        )  # fmt: skip
        with self._write() as db:
            try:
                db.execute(
                    "INSERT INTO credentials (id, system, owner, host, port, server_name, starttls,"
                    " purpose, der, sha256, issuer, issuer_key_id, not_after, added_at, added_by)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.IntegrityError as exc:
                raise ConflictError(_conflict(str(exc), new), where=self.where) from None
            db.execute(
                "INSERT INTO observations (credential_id, at, source, sha256, issuer) "
                "VALUES (?, ?, 'registered', ?, ?)",
                (new.id, micros(at), row[9], row[10]),
            )

    def get(self, credential_id: str) -> RegisteredCredential:
        with self._read() as db:
            row = db.execute(f"{_SELECT} WHERE c.id = ?", (credential_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no registered credential with id {credential_id!r}")
        return _credential(row)

    def certificate(self, credential_id: str) -> x509.Certificate:
        """The certificate in use (the one registered, or the last one seen)."""
        with self._read() as db:
            row = db.execute(
                "SELECT der FROM credentials WHERE id = ?", (credential_id,)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no registered credential with id {credential_id!r}")
        return x509.load_der_x509_certificate(row[0])

    def credentials(
        self, *, system: str | None = None, status: CredentialStatus | None = None
    ) -> list[RegisteredCredential]:
        conditions, params = [], []
        if system is not None:
            conditions.append("c.system = ?")
            params.append(system)
        if status is CredentialStatus.REVOKED:
            conditions.append("r.sha256 IS NOT NULL")
        elif status is CredentialStatus.ACTIVE:
            conditions.append("r.sha256 IS NULL")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"{_SELECT}{where} ORDER BY c.system, c.host, c.id LIMIT {MAX_LISTED}"
        with self._read() as db:
            return [_credential(row) for row in db.execute(sql, params)]

    def by_name(self, name: str, port: int | None = None) -> list[RegisteredCredential]:
        """Credentials registered for endpoint name ``name`` (and ``port``, when given)."""
        sql = f"{_SELECT} WHERE lower(coalesce(c.server_name, c.host)) = ?"
        params: list[Any] = [name.lower().rstrip(".")]
        if port is not None:
            sql += " AND c.port = ?"
            params.append(port)
        with self._read() as db:
            return [_credential(row) for row in db.execute(sql, params)]

    def names(self) -> frozenset[str]:
        """Every endpoint name registered (what a sensor's passive check looks for)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT DISTINCT lower(coalesce(server_name, host)) FROM credentials "
                "WHERE host IS NOT NULL"
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def remove(self, credential_id: str) -> RegisteredCredential:
        before = self.get(credential_id)
        with self._write() as db:
            db.execute("DELETE FROM credentials WHERE id = ?", (credential_id,))
        return before

    def replace_certificate(
        self,
        credential_id: str,
        cert: x509.Certificate,
        *,
        expected: str,
        at: datetime,
        source: str,
    ) -> bool:
        """Record that the credential now uses ``cert``, if it still used the certificate with
        fingerprint ``expected``: of a scan and a sensor that see one change, one records it."""
        sha = fingerprint(cert)
        issuer = safe_name(cert, "issuer")
        with self._write() as db:
            cursor = db.execute(
                "UPDATE credentials SET der = ?, sha256 = ?, issuer = ?, issuer_key_id = ?, "
                "not_after = ? WHERE id = ? AND sha256 = ?",
                (cert.public_bytes(Encoding.DER), sha, issuer, issuer_key_id(cert),
                 micros(cert.not_valid_after_utc), credential_id, expected),
            )  # fmt: skip
            if cursor.rowcount != 1:
                return False
            db.execute(
                "INSERT INTO observations (credential_id, at, source, sha256, issuer, "
                "previous_sha256) VALUES (?, ?, ?, ?, ?, ?)",
                (credential_id, micros(at), source, sha, issuer, expected),
            )
        return True

    def issuer_key(self, credential_id: str) -> str:
        with self._read() as db:
            row = db.execute(
                "SELECT issuer_key_id FROM credentials WHERE id = ?", (credential_id,)
            ).fetchone()
        return "" if row is None else str(row[0])

    def history(self, credential_id: str) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = db.execute(
                "SELECT at, source, sha256, issuer, previous_sha256 FROM observations "
                "WHERE credential_id = ? ORDER BY seq",
                (credential_id,),
            ).fetchall()
        keys = ("at", "source", "sha256", "issuer", "previous_sha256")
        return [{**dict(zip(keys, r, strict=True)), "at": from_micros(r[0])} for r in rows]

    def record_scan(
        self,
        credential_id: str,
        *,
        at: datetime,
        status: str,
        reasons: list[str],
        error: str | None,
    ) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE credentials SET last_scan_at = ?, last_scan = ?, last_reasons = ?, "
                "last_error = ? WHERE id = ?",
                (micros(at), status, orjson.dumps(reasons).decode(), error, credential_id),
            )

    # ------------------------------------------------------------------ notices

    def notice(self, credential_id: str, kind: str, key: str, *, at: datetime) -> bool:
        """Note that ``kind``/``key`` was alerted; False when it had been already."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO notices (credential_id, kind, key, at) "
                "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM credentials WHERE id = ?)",
                (credential_id, kind, key, micros(at), credential_id),
            )
            return cursor.rowcount == 1

    def clear_notices(self, credential_id: str, kind: str) -> None:
        with self._write() as db:
            db.execute(
                "DELETE FROM notices WHERE credential_id = ? AND kind = ?", (credential_id, kind)
            )

    # ------------------------------------------------------------------ revocations

    def revoked(self, sha256: str) -> RevocationRow | None:
        with self._read() as db:
            row = db.execute(
                "SELECT sha256, serial, ca_sha256, credential_id, system, reason, revoked_at, "
                "revoked_by FROM revocations WHERE sha256 = ?",
                (sha256,),
            ).fetchone()
        return None if row is None else _revocation(row)

    def revoke(
        self, row: RevocationRow, sign: Callable[[list[RevokedEntry], int], IssuedCrl]
    ) -> IssuedCrl:
        """Record ``row`` and the CRL ``sign`` makes of every revocation by the same CA (with the
        next CRL number), in one transaction: the revocation and its CRL exist together or not."""
        with self._write() as db:
            db.execute(
                "INSERT INTO revocations (sha256, serial, ca_sha256, credential_id, system, "
                "reason, revoked_at, revoked_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (row.sha256, format(row.serial, "x"), row.ca_sha256, row.credential_id,
                 row.system, row.reason.value, micros(row.revoked_at), row.revoked_by),
            )  # fmt: skip
            entries = [
                RevokedEntry(int(serial, 16), from_micros(at), RevocationReason(reason).flag)
                for serial, at, reason in db.execute(
                    "SELECT serial, revoked_at, reason FROM revocations WHERE ca_sha256 = ? "
                    "ORDER BY revoked_at, serial",
                    (row.ca_sha256,),
                )
            ]
            last = db.execute(
                "SELECT max(number) FROM crls WHERE ca_sha256 = ?", (row.ca_sha256,)
            ).fetchone()[0]
            crl = sign(entries, (last or 0) + 1)
            db.execute(
                "INSERT INTO crls (ca_sha256, number, issued_at, next_update, der) "
                "VALUES (?, ?, ?, ?, ?)",
                (row.ca_sha256, crl.number, micros(row.revoked_at), micros(crl.next_update),
                 crl.der),
            )  # fmt: skip
        return crl

    def latest_crl(self, ca_sha256: str) -> IssuedCrl | None:
        with self._read() as db:
            row = db.execute(
                "SELECT number, next_update, der FROM crls WHERE ca_sha256 = ? "
                "ORDER BY number DESC LIMIT 1",
                (ca_sha256,),
            ).fetchone()
        return None if row is None else IssuedCrl(row[0], from_micros(row[1]), bytes(row[2]))

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            with self._errors():
                yield db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            with self._errors(), _transaction(db):
                yield db

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{type(exc).__name__}: {exc}", where=self.where) from None

    def _migrate(self, db: sqlite3.Connection) -> None:
        with self._errors(), _transaction(db):
            version: int = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the credential registry has schema version {version}, written by a newer "
                    f"CityShield (this one knows up to {len(MIGRATIONS)})",
                    where=self.where,
                )
            tables = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
            if version == 0 and tables.fetchone()[0]:
                raise StoreError(
                    "a SQLite database, but not a CityShield credential registry", where=self.where
                )
            for step in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[step]:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {step + 1}")


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _conflict(message: str, new: NewCredential) -> str:
    if "host" in message or "port" in message:
        return f"{new.host}:{new.port} is registered already"
    if "sha256" in message:
        return f"this certificate is registered for {new.system} already"
    return "this credential is registered already"


def _credential(row: tuple[Any, ...]) -> RegisteredCredential:
    (id_, system, owner, host, port, server_name, starttls, purpose, der, added_at, added_by,
     last_scan_at, last_scan, last_reasons, last_error, revoked_at, reason) = row  # fmt: skip
    return RegisteredCredential(
        id=id_, system=system, owner=owner, host=host, port=port, server_name=server_name,
        starttls=starttls, purpose=purpose,
        certificate=CertificateSummary.of(x509.load_der_x509_certificate(der)),
        status=CredentialStatus.REVOKED if revoked_at is not None else CredentialStatus.ACTIVE,
        added_at=from_micros(added_at), added_by=added_by,
        revoked_at=None if revoked_at is None else from_micros(revoked_at),
        revocation_reason=reason,
        last_scan_at=None if last_scan_at is None else from_micros(last_scan_at),
        last_scan=last_scan, last_reasons=orjson.loads(last_reasons), last_error=last_error,
    )  # fmt: skip


def _revocation(row: tuple[Any, ...]) -> RevocationRow:
    sha, serial, ca, credential_id, system, reason, at, by = row
    return RevocationRow(
        sha, int(serial, 16), ca, credential_id, system, RevocationReason(reason),
        from_micros(at), by,
    )  # fmt: skip

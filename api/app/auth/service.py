"""``AuthService``: users, tokens, logins and checking the token on every request.

Every change is audited in the same transaction. Secrets appear only in a ``TokenIssued`` answer;
nothing here logs them, and errors never repeat what the caller sent.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Any

from api.app.audit.log import AuditLog
from api.app.auth.hashing import SecretHasher
from api.app.auth.limiter import FailureLimiter
from api.app.auth.models import TokenIssued, TokenPublic, UserPublic
from api.app.auth.principal import Principal
from api.app.auth.roles import Role
from api.app.auth.tokens import TokenCache, new_token, parse_token
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase, from_micros, micros
from api.app.errors import Conflict, Forbidden, Missing, TooMany, Unauthorized
from cityshield.clock import Clock

_SELECT_CREDENTIALS = """
    SELECT t.id, t.kind, t.name, t.role, coalesce(u.username, 'sensor:' || s.name),
           t.created_at, t.expires_at, t.revoked_at, t.last_used_at,
           t.secret_hash, t.user_id, t.sensor_id, u.disabled_at, s.revoked_at
    FROM tokens t LEFT JOIN users u ON u.id = t.user_id LEFT JOIN sensors s ON s.id = t.sensor_id
"""
#: ``last_used_at`` is written at most this often per token: a write per request would serialise
#: every read of the API behind the database's write lock.
_TOUCH_EVERY = timedelta(minutes=1)


class AuthService:
    def __init__(
        self,
        db: ServiceDatabase,
        audit: AuditLog,
        hasher: SecretHasher,
        clock: Clock,
        settings: ApiSettings,
    ) -> None:
        self._db = db
        self._audit = audit
        self._hasher = hasher
        self._clock = clock
        self._settings = settings
        self._cache = TokenCache()
        self.limiter = FailureLimiter(settings.login_max_failures, settings.login_window_seconds)

    # ------------------------------------------------------------------------------------ users

    def add_user(self, actor: Principal, username: str, role: Role, password: str) -> UserPublic:
        if role is Role.SENSOR:
            raise Conflict("sensors are enrolled through /api/v1/sensors, not created as users")
        hashed = self._hasher.hash(password)
        now = micros(self._clock.now())
        with self._db.write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO users (username, role, password_hash, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (username, role.value, hashed, now),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a user named {username!r} exists already") from None
            user = self._user(conn, "id = ?", cur.lastrowid)
            self._audit.append(conn, actor, "user.create", "user", username, None, _user(user))
        return user

    def list_users(self) -> list[UserPublic]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, username, role, created_at, disabled_at FROM users ORDER BY id"
            ).fetchall()
        return [_user_row(r) for r in rows]

    def user_count(self) -> int:
        with self._db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def disable_user(self, actor: Principal, username: str) -> UserPublic:
        """Disable a user and revoke every token they hold; the user stays for the audit trail."""
        now = micros(self._clock.now())
        with self._db.write() as conn:
            before = self._user(conn, "username = ?", username)
            if before.disabled:
                return before
            conn.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (now, before.id))
            revoked = conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL "
                "RETURNING id",
                (now, before.id),
            ).fetchall()
            after = self._user(conn, "id = ?", before.id)
            self._audit.append(
                conn, actor, "user.disable", "user", username, _user(before),
                {**_user(after), "tokens_revoked": len(revoked)},
            )  # fmt: skip
        for (token_id,) in revoked:
            self._cache.forget(token_id)
        return after

    # ----------------------------------------------------------------------------------- tokens

    def issue(
        self,
        conn: sqlite3.Connection,
        actor: Principal,
        *,
        kind: str,
        name: str,
        role: Role,
        user_id: int | None = None,
        sensor_id: str | None = None,
        lifetime: timedelta | None,
    ) -> TokenIssued:
        """A new token in the caller's transaction; its plaintext is in the answer only."""
        parts = new_token()
        now = self._clock.now()
        expires = None if lifetime is None else micros(now + lifetime)
        conn.execute(
            "INSERT INTO tokens (id, kind, name, user_id, sensor_id, role, secret_hash, "
            "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (parts.token_id, kind, name, user_id, sensor_id, role.value,
             self._hasher.hash(parts.secret), micros(now), expires),
        )  # fmt: skip
        public = self._token(conn, parts.token_id)
        self._audit.append(
            conn, actor, "token.create", "token", parts.token_id, None, _token(public)
        )
        return TokenIssued(**public.model_dump(), token=parts.plaintext)

    def login(self, username: str, password: str, client: str) -> TokenIssued:
        keys = (f"user:{username.lower()}", f"ip:{client}")
        wait = self.limiter.retry_after(*keys)
        if wait:
            raise TooMany("too many failed logins; try again later", retry_after=wait)
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT id, username, role, password_hash, disabled_at FROM users "
                "WHERE username = ?",
                (username,),
            ).fetchone()
        hashed = row[3] if row is not None and row[4] is None else None
        if not self._hasher.verify(hashed, password):
            self.limiter.failed(*keys)
            raise Unauthorized("wrong user name or password")
        self.limiter.succeeded(keys[0])
        user_id, name, role = row[0], row[1], Role(row[2])
        actor = Principal(name=name, role=role, user_id=user_id)
        lifetime = timedelta(hours=self._settings.session_hours)
        with self._db.write() as conn:
            return self.issue(
                conn, actor, kind="session", name="login", role=role, user_id=user_id,
                lifetime=lifetime,
            )  # fmt: skip

    def create_api_token(self, actor: Principal, name: str, days: int) -> TokenIssued:
        if actor.user_id is None:
            raise Forbidden("only people create API tokens")
        days = min(days, self._settings.token_max_days)
        with self._db.write() as conn:
            return self.issue(
                conn, actor, kind="api", name=name, role=actor.role, user_id=actor.user_id,
                lifetime=timedelta(days=days),
            )  # fmt: skip

    def create_token_for(
        self, actor: Principal, username: str, name: str, days: int
    ) -> TokenIssued:
        """An API token for ``username`` (the CLI's ``users token``: the first admin's way in)."""
        with self._db.write() as conn:
            user = self._user(conn, "username = ?", username)
            if user.disabled:
                raise Conflict(f"user {username!r} is disabled")
            return self.issue(
                conn, actor, kind="api", name=name, role=user.role, user_id=user.id,
                lifetime=timedelta(days=min(days, self._settings.token_max_days)),
            )  # fmt: skip

    def list_tokens(self, actor: Principal, *, everyone: bool = False) -> list[TokenPublic]:
        where, params = ("", []) if everyone else (" WHERE t.user_id = ?", [actor.user_id])
        with self._db.read() as conn:
            rows = conn.execute(
                f"{_SELECT_CREDENTIALS}{where} ORDER BY t.created_at", params
            ).fetchall()
        return [_token_row(r) for r in rows]

    def revoke_token(self, actor: Principal, token_id: str) -> TokenPublic:
        """Revoke a token: one's own, or anyone's for an admin."""
        now = micros(self._clock.now())
        with self._db.write() as conn:
            row = conn.execute(f"{_SELECT_CREDENTIALS} WHERE t.id = ?", (token_id,)).fetchone()
            owned = row is not None and (row[10] == actor.user_id and actor.user_id is not None)
            if row is None or not (owned or actor.role is Role.ADMIN):
                # The same answer for someone else's token as for none: ids are not disclosed.
                raise Missing(f"no token {token_id!r} of yours")
            before = _token_row(row)
            if before.revoked_at is None:
                conn.execute("UPDATE tokens SET revoked_at = ? WHERE id = ?", (now, token_id))
            after = self._token(conn, token_id)
            self._audit.append(
                conn, actor, "token.revoke", "token", token_id, _token(before), _token(after)
            )
        self._cache.forget(token_id)
        return after

    def revoke_sensor_tokens(self, conn: sqlite3.Connection, sensor_id: str) -> int:
        rows = conn.execute(
            "UPDATE tokens SET revoked_at = ? WHERE sensor_id = ? AND revoked_at IS NULL "
            "RETURNING id",
            (micros(self._clock.now()), sensor_id),
        ).fetchall()
        for (token_id,) in rows:
            self._cache.forget(token_id)
        return len(rows)

    def authenticate(self, text: str, client: str) -> Principal:
        """The principal a bearer token stands for; ``Unauthorized`` for anything else."""
        key = f"token-ip:{client}"
        wait = self.limiter.retry_after(key)
        if wait:
            raise TooMany("too many failed authentications; try again later", retry_after=wait)
        parts = parse_token(text)
        if parts is None:
            raise Unauthorized("not a CityShield token")
        with self._db.read() as conn:
            row = conn.execute(
                f"{_SELECT_CREDENTIALS} WHERE t.id = ?", (parts.token_id,)
            ).fetchone()
        now = self._clock.now()
        if row is None or not _usable(row, micros(now)):
            # Not counted: it cost one lookup, and guessing a 64-bit id is hopeless anyway. What
            # is limited is guessing the secret of a real token (and the argon2 time it costs).
            raise Unauthorized("unknown, expired or revoked token")
        if not self._cache.verified(parts):
            if not self._hasher.verify(row[9], parts.secret):
                self.limiter.failed(key)
                raise Unauthorized("unknown, expired or revoked token")
            self._cache.remember(parts)
        last_used = row[8]
        if last_used is None or from_micros(last_used) + _TOUCH_EVERY < now:
            with self._db.write() as conn:
                conn.execute(
                    "UPDATE tokens SET last_used_at = ? WHERE id = ?", (micros(now), parts.token_id)
                )
        return Principal(
            name=row[4], role=Role(row[3]), token_id=row[0], user_id=row[10], sensor_id=row[11]
        )

    # --------------------------------------------------------------------------------- internal

    def _user(self, conn: sqlite3.Connection, where: str, value: Any) -> UserPublic:
        row = conn.execute(
            f"SELECT id, username, role, created_at, disabled_at FROM users WHERE {where}",  # noqa: S608
            (value,),
        ).fetchone()
        if row is None:
            raise Missing(f"no user {value!r}")
        return _user_row(row)

    def _token(self, conn: sqlite3.Connection, token_id: str) -> TokenPublic:
        row = conn.execute(f"{_SELECT_CREDENTIALS} WHERE t.id = ?", (token_id,)).fetchone()
        if row is None:
            raise Missing(f"no token {token_id!r}")
        return _token_row(row)


def _usable(row: tuple[Any, ...], now: int) -> bool:
    expires, revoked, user_disabled, sensor_revoked = row[6], row[7], row[12], row[13]
    return (
        revoked is None
        and (expires is None or expires > now)
        and user_disabled is None
        and sensor_revoked is None
    )


def _user_row(row: tuple[Any, ...]) -> UserPublic:
    return UserPublic(
        id=row[0],
        username=row[1],
        role=Role(row[2]),
        created_at=from_micros(row[3]),
        disabled=row[4] is not None,
    )


def _token_row(row: tuple[Any, ...]) -> TokenPublic:
    def at(value: int | None) -> datetime | None:
        return None if value is None else from_micros(value)

    return TokenPublic(
        id=row[0],
        kind=row[1],
        name=row[2],
        role=Role(row[3]),
        owner=row[4] or "?",
        created_at=from_micros(row[5]),
        expires_at=at(row[6]),
        revoked_at=at(row[7]),
        last_used_at=at(row[8]),
    )


def _user(user: UserPublic) -> dict[str, Any]:
    return user.model_dump(mode="json")


def _token(token: TokenPublic) -> dict[str, Any]:
    return token.model_dump(mode="json")

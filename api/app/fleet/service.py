"""``FleetService``: enrol, revoke and re-key sensors; record heartbeats; judge health."""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from api.app.audit.log import AuditLog
from api.app.auth.models import TokenIssued
from api.app.auth.principal import Principal
from api.app.auth.roles import Role
from api.app.auth.service import AuthService
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase, from_micros, micros
from api.app.errors import Conflict, Missing
from api.app.fleet.models import FleetView, Health, HeartbeatStats, SensorEnrolled, SensorPublic
from cityshield.clock import Clock

#: More drops than this share of packets is a degraded sensor: it no longer sees all traffic.
DEGRADED_DROP_RATIO = 0.01
_COLUMNS = (
    "id, name, description, enrolled_at, enrolled_by, revoked_at, heartbeats, "
    "last_heartbeat_at, last_stats"
)


class FleetService:
    def __init__(
        self,
        db: ServiceDatabase,
        auth: AuthService,
        audit: AuditLog,
        clock: Clock,
        settings: ApiSettings,
    ) -> None:
        self._db = db
        self._auth = auth
        self._audit = audit
        self._clock = clock
        self._settings = settings

    def enrol(self, actor: Principal, name: str, description: str) -> SensorEnrolled:
        sensor_id = secrets.token_hex(8)
        with self._db.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO sensors (id, name, description, enrolled_at, enrolled_by) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (sensor_id, name, description, micros(self._clock.now()), actor.name),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a sensor named {name!r} is enrolled already") from None
            sensor = self._get(conn, sensor_id)
            self._audit.append(conn, actor, "sensor.enrol", "sensor", sensor_id, None, _doc(sensor))
            credential = self._credential(conn, actor, sensor)
        return SensorEnrolled(sensor=sensor, credential=credential)

    def rotate(self, actor: Principal, sensor_id: str) -> TokenIssued:
        """A new credential; the old ones stop working at once."""
        with self._db.write() as conn:
            sensor = self._get(conn, sensor_id)
            if sensor.revoked:
                raise Conflict(f"sensor {sensor.name!r} is revoked")
            revoked = self._auth.revoke_sensor_tokens(conn, sensor_id)
            self._audit.append(
                conn, actor, "sensor.rotate", "sensor", sensor_id, None,
                {"tokens_revoked": revoked},
            )  # fmt: skip
            return self._credential(conn, actor, sensor)

    def revoke(self, actor: Principal, sensor_id: str) -> SensorPublic:
        with self._db.write() as conn:
            before = self._get(conn, sensor_id)
            if before.revoked:
                return before
            conn.execute(
                "UPDATE sensors SET revoked_at = ? WHERE id = ?",
                (micros(self._clock.now()), sensor_id),
            )
            self._auth.revoke_sensor_tokens(conn, sensor_id)
            after = self._get(conn, sensor_id)
            self._audit.append(
                conn, actor, "sensor.revoke", "sensor", sensor_id, _doc(before), _doc(after)
            )
        return after

    def heartbeat(self, caller: Principal, stats: HeartbeatStats) -> SensorPublic:
        # Heartbeats are not audited: they change no decision, and one a minute per sensor would
        # bury the changes people made.
        assert caller.sensor_id is not None
        with self._db.write() as conn:
            conn.execute(
                "UPDATE sensors SET heartbeats = heartbeats + 1, last_heartbeat_at = ?, "
                "last_stats = ? WHERE id = ?",
                (micros(self._clock.now()), stats.model_dump_json(), caller.sensor_id),
            )
            return self._get(conn, caller.sensor_id)

    def get(self, sensor_id: str) -> SensorPublic:
        with self._db.read() as conn:
            return self._get(conn, sensor_id)

    def name_of(self, sensor_id: str) -> str:
        return self.get(sensor_id).name

    def view(self) -> FleetView:
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM sensors ORDER BY name").fetchall()  # noqa: S608
        now = self._clock.now()
        sensors = [self._public(r, now) for r in rows]
        health: dict[str, int] = {}
        for s in sensors:
            health[s.health] = health.get(s.health, 0) + 1
        pps = sum(s.stats.packets_per_second for s in sensors if s.stats and not s.revoked)
        return FleetView(sensors=sensors, health=health, packets_per_second=pps)

    def _credential(
        self, conn: sqlite3.Connection, actor: Principal, sensor: SensorPublic
    ) -> TokenIssued:
        return self._auth.issue(
            conn, actor, kind="sensor", name=sensor.name, role=Role.SENSOR, sensor_id=sensor.id,
            lifetime=timedelta(days=self._settings.token_max_days),
        )  # fmt: skip

    def _get(self, conn: sqlite3.Connection, sensor_id: str) -> SensorPublic:
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM sensors WHERE id = ?",  # noqa: S608 - constant columns
            (sensor_id,),
        ).fetchone()
        if row is None:
            raise Missing(f"no sensor {sensor_id!r}")
        return self._public(row, self._clock.now())

    def _public(self, row: tuple[Any, ...], now: datetime) -> SensorPublic:
        sid, name, description, enrolled_at, enrolled_by, revoked_at, beats, last, stats = row
        parsed = HeartbeatStats.model_validate_json(stats) if stats else None
        last_at = from_micros(last) if last is not None else None
        return SensorPublic(
            id=sid,
            name=name,
            description=description,
            enrolled_at=from_micros(enrolled_at),
            enrolled_by=enrolled_by,
            revoked=revoked_at is not None,
            health=self._health(revoked_at is not None, last_at, parsed, now),
            heartbeats=beats,
            last_heartbeat_at=last_at,
            stats=parsed,
        )

    def _health(
        self, revoked: bool, last: datetime | None, stats: HeartbeatStats | None, now: datetime
    ) -> Health:
        if revoked:
            return "revoked"
        if last is None or stats is None:
            return "never_seen"
        age = (now - last).total_seconds()
        interval = self._settings.heartbeat_seconds
        if age > 5 * interval:
            return "offline"
        if age > 2 * interval:
            return "stale"
        if stats.drop_ratio > DEGRADED_DROP_RATIO or stats.detectors_degraded:
            return "degraded"
        return "healthy"


def _doc(sensor: SensorPublic) -> dict[str, Any]:
    return sensor.model_dump(mode="json", exclude={"stats", "health"})

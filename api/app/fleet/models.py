"""Schemas of sensors, heartbeats and the fleet view."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.app.auth.models import TokenIssued

SensorName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
Version = Annotated[str, StringConstraints(max_length=100)]
Health = Literal["healthy", "degraded", "stale", "offline", "never_seen", "revoked"]


class SensorEnrol(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "dmz-tap-1", "description": "DMZ span port"}]},
    )

    #: ``observer.name`` on everything the sensor sends.
    name: SensorName
    description: Annotated[str, StringConstraints(max_length=500)] = ""


class HeartbeatStats(BaseModel):
    """What a sensor reports every ``heartbeat_seconds``. Counters are totals since it started."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "packets_per_second": 48000.0,
                    "bytes_per_second": 41000000.0,
                    "packets_received": 912000000,
                    "packets_dropped": 1200,
                    "flows_active": 52000,
                    "flows_ended": 3100000,
                    "alerts": 412,
                    "spool_bytes": 0,
                    "uptime_seconds": 86400.0,
                    "software_version": "0.1.0",
                    "rule_version": "2026-11-20",
                    "model_version": "anomaly-7",
                    "detectors_degraded": [],
                }
            ]
        },
    )

    packets_per_second: float = Field(default=0.0, ge=0)
    bytes_per_second: float = Field(default=0.0, ge=0)
    packets_received: int = Field(default=0, ge=0)
    packets_dropped: int = Field(default=0, ge=0)
    flows_active: int = Field(default=0, ge=0)
    flows_ended: int = Field(default=0, ge=0)
    alerts: int = Field(default=0, ge=0)
    #: Bytes waiting in the sensor's disk spool (not yet accepted by ingest).
    spool_bytes: int = Field(default=0, ge=0)
    uptime_seconds: float = Field(default=0.0, ge=0)
    software_version: Version = ""
    rule_version: Version = ""
    model_version: Version = ""
    detectors_degraded: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=list, max_length=100
    )

    @property
    def drop_ratio(self) -> float:
        seen = self.packets_received + self.packets_dropped
        return self.packets_dropped / seen if seen else 0.0


class SensorPublic(BaseModel):
    id: str
    name: str
    description: str
    enrolled_at: datetime
    enrolled_by: str
    revoked: bool
    health: Health
    heartbeats: int
    last_heartbeat_at: datetime | None
    stats: HeartbeatStats | None


class SensorEnrolled(BaseModel):
    """A new sensor and its credential (``credential.token`` is shown this once)."""

    sensor: SensorPublic
    credential: TokenIssued


class FleetView(BaseModel):
    sensors: list[SensorPublic]
    #: Sensors per health state.
    health: dict[str, int]
    packets_per_second: float

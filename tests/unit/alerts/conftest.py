"""Fixtures for the alerts tests: alert and flow factories, a fixed clock, a store in tmp_path."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.model import Alert, Endpoint, RuleRef, Severity
from alerts.stores import SqliteAlertStore
from cityshield.clock import FixedClock

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

AlertFactory = Callable[..., Alert]
FlowFactory = Callable[..., dict[str, Any]]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2024, 6, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def make_alert() -> AlertFactory:
    """An alert as a detector raises it; keyword arguments override the defaults."""

    def make(
        *,
        rule_id: str = "port_scan",
        rule_name: str | None = None,
        severity: Severity = Severity.MEDIUM,
        src: str | None = "10.0.0.1",
        dst: str | None = "10.0.0.2",
        dport: int | None = 80,
        at: datetime = T0,
        observer: str = "sensor-1",
        message: str = "Connection attempt",
        **kwargs: Any,
    ) -> Alert:
        return Alert.raised(
            rule=RuleRef(id=rule_id, name=rule_name or rule_id.replace("_", " ").title()),
            severity=severity,
            message=message,
            observer=observer,
            first_seen=at,
            source=Endpoint(ip=src) if src else None,
            destination=Endpoint(ip=dst, port=dport) if dst else None,
            **kwargs,
        )

    return make


@pytest.fixture
def make_flow() -> FlowFactory:
    """An ECS flow document as the sensors produce it."""

    def make(
        flow_id: str,
        *,
        src: str = "10.0.0.1",
        dst: str = "10.0.0.2",
        sport: int | None = 51000,
        dport: int | None = 443,
        transport: str = "tcp",
        start: datetime = T0,
        duration: timedelta = timedelta(seconds=1),
        community_id: str = "1:abc=",
        conn_state: str = "SF",
        observer: str = "sensor-1",
    ) -> dict[str, Any]:
        source: dict[str, Any] = {"ip": src, "bytes": 600, "packets": 6}
        destination: dict[str, Any] = {"ip": dst, "bytes": 634, "packets": 4}
        if sport is not None:
            source["port"] = sport
        if dport is not None:
            destination["port"] = dport
        end = start + duration
        return {
            "@timestamp": _iso(start),
            "event": {
                "id": flow_id,
                "kind": "event",
                "category": ["network"],
                "type": ["connection", "end"],
                "start": _iso(start),
                "end": _iso(end),
                "duration": duration // timedelta(microseconds=1) * 1000,
                "dataset": "cityshield.flow",
            },
            "network": {
                "transport": transport,
                "type": "ipv6" if ":" in src else "ipv4",
                "community_id": community_id,
                "bytes": 1234,
                "packets": 10,
            },
            "source": source,
            "destination": destination,
            "observer": {"name": observer},
            "log": {"file": {"path": "demo.pcap"}},
            "cityshield": {"flow": {"conn_state": conn_state, "end_reason": "tcp_closed"}},
        }

    return make


@pytest.fixture
def raw_db() -> Iterator[Callable[[Path], sqlite3.Connection]]:
    """Opens a store's file with plain sqlite3 (autocommit), as another program would."""
    opened: list[sqlite3.Connection] = []

    def open_db(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None)
        opened.append(db)
        return db

    yield open_db
    for db in opened:
        db.close()


@pytest.fixture
def store(tmp_path: Path, clock: FixedClock) -> Iterator[SqliteAlertStore]:
    with SqliteAlertStore(tmp_path / "store" / "alerts.db", clock) as opened:
        yield opened

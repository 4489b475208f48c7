"""Fixtures for the Elasticsearch store's end-to-end tests (see ``esserver``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.model import Alert, Endpoint, RuleRef, Severity

sys.path.insert(0, str(Path(__file__).parent))

from esserver import ES_URL, start_osmem, stop_osmem


@pytest.fixture(scope="session")
def es_url() -> Iterator[str]:
    if ES_URL:
        yield ES_URL
        return
    server = start_osmem()
    yield server.url
    stop_osmem(server)


T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def make_alert() -> Callable[..., Alert]:
    def make(*, src: str = "10.0.0.1", rule_id: str = "port_scan", **kwargs: Any) -> Alert:
        return Alert.raised(
            rule=RuleRef(id=rule_id, name=rule_id.replace("_", " ").title()),
            severity=Severity.MEDIUM,
            message="Connection attempts",
            observer="sensor-1",
            first_seen=T0,
            source=Endpoint(ip=src),
            destination=Endpoint(ip="10.0.0.2", port=80),
            **kwargs,
        )

    return make


@pytest.fixture
def make_flow() -> Callable[..., dict[str, Any]]:
    """An ECS flow document shaped like ``sensors.flows.ecs.flow_documents`` output."""

    def make(
        flow_id: str, *, src: str = "10.0.0.1", sport: int = 51000, at: datetime = T0
    ) -> dict[str, Any]:
        start = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        end = (at + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {
            "@timestamp": start,
            "event": {"id": flow_id, "kind": "event", "start": start, "end": end},
            "network": {"transport": "tcp", "community_id": "1:abc="},
            "source": {"ip": src, "port": sport, "bytes": 600},
            "destination": {"ip": "10.0.0.2", "port": 443, "bytes": 634},
            "observer": {"name": "sensor-1"},
            "cityshield": {"flow": {"conn_state": "SF"}},
        }

    return make

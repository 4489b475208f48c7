"""Suppressions and aggregation keys set through the API reach the detection pipeline: the
composition root applies them when ``cityshield analyze`` stores alerts."""

from __future__ import annotations

import json
from pathlib import Path

from alerts.stores import SqliteAlertStore
from alerts.stores.base import AlertQuery
from api.app.audit.log import AuditLog
from api.app.auth.principal import CLI
from api.app.db import ServiceDatabase
from api.app.noise.filter import SuppressionFilter
from api.app.noise.models import AggregationRule, SuppressionCreate
from api.app.noise.service import NoiseService
from cityshield.clock import SystemClock
from tests.api.conftest import Run


def noise(tmp_path: Path) -> tuple[ServiceDatabase, NoiseService]:
    db = ServiceDatabase(str(tmp_path / "cityshield-service.db"))
    clock = SystemClock()
    store = SqliteAlertStore(":memory:")  # previews only; not used here
    return db, NoiseService(db, store, AuditLog(db, clock), clock, SuppressionFilter(db, clock))


def test_analyze_without_a_service_database_suppresses_nothing(
    run: Run, capture: Path, tmp_path: Path
) -> None:
    result = run("analyze", str(capture), "--store", "s.db", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["alerts_suppressed"] == 0
    assert not (tmp_path / "cityshield-service.db").exists()  # reading never creates one


def test_analyze_applies_suppressions_and_aggregation_keys(
    run: Run, capture: Path, tmp_path: Path
) -> None:
    db, service = noise(tmp_path)
    made = service.create(
        CLI,
        SuppressionCreate(rule_id="port_scan.vertical", source="192.0.2.0/24", reason="scanner"),
    )
    service.set_aggregation(CLI, "brute_force.ssh", AggregationRule(fields=["source.ip"]))
    db.close()

    result = run("analyze", str(capture), "--store", "s.db", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["alerts_suppressed"] >= 1
    assert {r["rule_id"] for r in summary["top_rules"]} == {"brute_force.ssh"}

    with SqliteAlertStore(tmp_path / "s.db") as store:
        stored = store.query_alerts(AlertQuery()).items
    assert [a.rule.id for a in stored] == ["brute_force.ssh"]
    assert stored[0].aggregation_fields == ["source.ip"]
    db, service = noise(tmp_path)
    counted = service.get(made.id)
    assert counted.hits.alerts == 1 and counted.hits.occurrences >= 1

"""Fixtures for the response tests: a sample alert, a run database, a service around it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from cityshield.clock import FixedClock
from response.actions.base import Action, ActionContext, ActionParams, Result
from response.actions.registry import ActionRegistry, build_actions
from response.audit import NullAuditor
from response.engine import ResponseEngine
from response.schema import Playbook
from response.service import ResponseService
from response.settings import ResponseSettings
from response.store import RunStore

REPO = Path(__file__).resolve().parents[3]
PLAYBOOKS = REPO / "playbooks"


def sample_alert(
    rule: str = "yara:egov:CityShield_Webshell_PHP_Eval_Request", **data: Any
) -> Alert:
    return Alert.raised(
        rule=RuleRef(id=rule, name=rule.rsplit(":", 1)[-1]),
        severity=Severity.CRITICAL,
        message="PHP webshell called on portal.city.example",
        observer="dmz-tap-1",
        first_seen=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        source=Endpoint(ip="203.0.113.66", port=51000),
        destination=Endpoint(ip="198.51.100.10", port=443),
        evidence=Evidence(flow_ids=["f1"], capture_file="/nonexistent.pcap", frames=[3, 4]),
        data={
            "http": {
                "host": "portal-login.city-example.net",
                "url": "http://portal-login.city-example.net/x",
            },
            "credential_id": "cred-1",
            "system": "portal",
            "owner": "owner@city.example",
            "subject": "CN=portal.city.example",
            "serial": "0a",
            "user": "admin",
            **data,
        },
    )


class RecordingAction(Action):
    """A real action for engine tests: appends what it was asked to a list (and may fail)."""

    id = "test.record"
    idempotent = False
    summary = "record a call"

    class Params(ActionParams):
        value: str = ""
        fail: bool = False

    calls: ClassVar[list[str]] = []

    def __init__(self, idempotent: bool = False, action_id: str = "test.record") -> None:
        self.id = action_id  # type: ignore[misc]
        self.idempotent = idempotent  # type: ignore[misc]
        self.calls = []

    def plan(self, params: Any) -> str:
        return f"record {params.value}"

    def run(self, params: Any, ctx: ActionContext) -> Result:
        self.calls.append(params.value)
        if params.fail:
            raise ValueError(f"asked to fail on {params.value}")
        return {"value": params.value}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, 12, 5, tzinfo=UTC))


@pytest.fixture
def run_store(tmp_path: Path) -> Iterator[RunStore]:
    store = RunStore(str(tmp_path / "runs.db"))
    yield store
    store.close()


def make_service(
    store: RunStore,
    clock: FixedClock,
    playbooks: list[Playbook],
    actions: list[Action] | None = None,
    settings: ResponseSettings | None = None,
) -> ResponseService:
    registry = (
        ActionRegistry(actions)
        if actions is not None
        else build_actions(settings or ResponseSettings())
    )
    engine = ResponseEngine(store, registry, NullAuditor(), clock, sleep=lambda s: None)
    return ResponseService(store, engine, {p.id: p for p in playbooks}, clock)

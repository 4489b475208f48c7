"""Property: any sequence of upserts and triage updates loses neither an alert nor a triage change.

A model (plain dicts) follows what the store must hold: every id ever upserted; for each, the
triage that the analysts' accepted changes produced (an upsert never touches it, whatever triage the
detector's copy carries), the highest count seen, and one log row per accepted change.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from alerts.model import Alert, CloseReason, Endpoint, RuleRef, Severity, Triage, TriageStatus
from alerts.stores import AlertQuery, SqliteAlertStore
from alerts.triage import TriageError
from cityshield.clock import FixedClock
from cityshield.errors import NotFoundError

T0 = datetime(2024, 5, 1, tzinfo=UTC)
IDS = [f"alert-{i}" for i in range(6)]

_triages = st.sampled_from(
    [
        Triage(),
        Triage(status=TriageStatus.ACKNOWLEDGED, assignee="detector"),
        Triage(status=TriageStatus.CLOSED, close_reason=CloseReason.OTHER),
    ]
)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="alerts-prop-"))
        self.clock = FixedClock(datetime(2024, 6, 1, tzinfo=UTC))
        self.store = SqliteAlertStore(self.directory / "p.db", self.clock)
        self.triage: dict[str, Triage] = {}
        self.counts: dict[str, int] = {}
        self.changes: dict[str, int] = {}

    @rule(
        alert_ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4),
        count=st.integers(1, 1000),
        severity=st.sampled_from(Severity),
        hours=st.integers(0, 48),
        triage=_triages,
    )
    def upsert(
        self, alert_ids: list[str], count: int, severity: Severity, hours: int, triage: Triage
    ) -> None:
        alerts = [
            Alert(
                id=alert_id,
                rule=RuleRef(id="rule", name="Rule"),
                severity=severity,
                risk_score=severity.risk_score,
                message="m",
                source=Endpoint(ip="10.0.0.1"),
                observer="s",
                count=count,
                first_seen=T0,
                last_seen=T0 + timedelta(hours=hours),
                triage=triage,
            )
            for alert_id in alert_ids
        ]
        self.store.upsert_alerts(alerts)
        for alert_id in alert_ids:
            self.triage.setdefault(alert_id, triage)
            self.counts[alert_id] = max(self.counts.get(alert_id, 0), count)
            self.changes.setdefault(alert_id, 0)

    @rule(
        alert_id=st.sampled_from(IDS),
        status=st.none() | st.sampled_from(TriageStatus),
        reason=st.none() | st.sampled_from(CloseReason),
        assignee=st.none() | st.sampled_from(["", "ana", "bo"]),
    )
    def update_triage(
        self,
        alert_id: str,
        status: TriageStatus | None,
        reason: CloseReason | None,
        assignee: str | None,
    ) -> None:
        self.clock.advance(timedelta(seconds=1))
        current = self.triage.get(alert_id)
        if current is None:
            with pytest.raises(NotFoundError):
                self.store.update_triage(alert_id, status=status, actor="ana")
            return
        final = current.status if status is None else status
        closing = final is TriageStatus.CLOSED
        kept = current.close_reason if current.status is TriageStatus.CLOSED else None
        if (closing and reason is None and kept is None) or (not closing and reason is not None):
            # Refused by the rules: the invariant checks that nothing changed.
            with pytest.raises(TriageError):
                self.store.update_triage(alert_id, status=status, close_reason=reason, actor="ana")
            return
        after = self.store.update_triage(
            alert_id, status=status, assignee=assignee, close_reason=reason, actor="ana"
        ).triage
        assert after.status is final
        assert after.close_reason == ((reason or kept) if closing else None)
        assert after.assignee == (current.assignee if assignee is None else assignee or None)
        if after != current:
            assert after.updated_at == self.clock.now()
            self.changes[alert_id] += 1
        self.triage[alert_id] = after

    @invariant()
    def nothing_is_lost(self) -> None:
        assert self.store.count_alerts(AlertQuery()) == len(self.triage)
        for alert_id, triage in self.triage.items():
            stored = self.store.get_alert(alert_id)
            assert stored.triage == triage
            assert stored.count == self.counts[alert_id]
            history = self.store.triage_history(alert_id)
            assert len(history) == self.changes[alert_id]
            if history:
                assert Triage.model_validate(history[-1].after) == triage

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.directory)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,  # SQLite on a shared disk has the odd slow fsync
    suppress_health_check=[HealthCheck.too_slow],
)

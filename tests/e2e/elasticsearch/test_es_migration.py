"""``alerts.stores.migration``: SQLite to Elasticsearch and back loses nothing and, run again,
copies nothing twice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from esserver import es_store

from alerts.model import Alert, CloseReason, TriageStatus
from alerts.stores import AlertQuery, AlertStore, FlowQuery, SqliteAlertStore
from alerts.stores.migration import migrate

pytestmark = pytest.mark.e2e


def _everything(store: AlertStore) -> tuple[dict[str, Alert], dict[str, list[Any]], list[Any]]:
    alerts = {a.id: a for a in store.query_alerts(AlertQuery(limit=1000)).items}
    histories = {
        i: [(c.actor, c.at, c.before, c.after) for c in store.triage_history(i)] for i in alerts
    }
    flows = sorted(store.query_flows(FlowQuery(limit=1000)), key=lambda f: f["event"]["id"])
    return alerts, histories, flows


def test_a_store_survives_the_round_trip(
    es_url: str,
    tmp_path: Path,
    make_alert: Callable[..., Alert],
    make_flow: Callable[..., dict[str, Any]],
) -> None:
    with SqliteAlertStore(tmp_path / "from.db") as source:
        raised = [make_alert(src=f"10.1.0.{i}") for i in range(30)]
        source.upsert_alerts(raised)
        source.update_triage(raised[0].id, status=TriageStatus.ACKNOWLEDGED, actor="ana")
        source.update_triage(
            raised[0].id,
            status=TriageStatus.CLOSED,
            close_reason=CloseReason.BENIGN_POSITIVE,
            tags=["scanner"],
            actor="bo",
        )
        source.add_comment(raised[1].id, author="ana", text="the vulnerability scanner")
        source.add_flows([make_flow(f"f{i}", sport=2000 + i) for i in range(40)])
        before = _everything(source)

        seen: dict[str, int] = {}
        with es_store(es_url, tmp_path / "es") as middle:
            copied = migrate(
                source, middle, progress=lambda w, n: seen.update({w: seen.get(w, 0) + n})
            )
            assert copied == {"alerts": 30, "triage_changes": 3, "flows": 40} == seen
            assert _everything(middle) == before
            # Again: nothing new, nothing twice.
            assert migrate(source, middle)["triage_changes"] == 0
            assert _everything(middle) == before
            assert middle.stats()["triage_changes"] == 3

            with SqliteAlertStore(tmp_path / "back.db") as back:
                migrate(middle, back)
                assert _everything(back) == before
                # The copies go on versioning from where the source was.
                again = back.update_triage(raised[0].id, assignee="cy", actor="cy")
                assert again.version == 3

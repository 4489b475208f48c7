"""``TriageService``: alert reads and triage changes through the store, each change audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alerts.model import Alert, Comment
from alerts.stores.base import AlertQuery, AlertStore
from alerts.stores.buckets import AggregateBy, AlertBucket
from alerts.triage import TriageError
from api.app.audit.log import AuditLog
from api.app.auth.principal import Principal
from api.app.triage.models import AlertDetail, AlertList, AlertUpdate, BulkItem, BulkResult
from cityshield.errors import ConflictError, NotFoundError

#: Cited flows an alert's page resolves at most (evidence holds at most 50).
MAX_FLOWS_SHOWN = 50
#: What the anomaly detector puts in ``Alert.data`` to explain itself.
_ANOMALY_KEYS = ("model", "score", "threshold", "explanation", "features")


class TriageService:
    def __init__(self, store: AlertStore, audit: AuditLog) -> None:
        self._store = store
        self._audit = audit

    def search(self, query: AlertQuery, *, total: bool) -> AlertList:
        page = self._store.query_alerts(query)
        count = (
            self._store.count_alerts(query.model_copy(update={"cursor": None})) if total else None
        )
        return AlertList(items=page.items, next_cursor=page.next_cursor, total=count)

    def aggregate(
        self, query: AlertQuery, by: AggregateBy, interval_s: int | None, size: int
    ) -> list[AlertBucket]:
        interval = None if interval_s is None else timedelta(seconds=interval_s)
        return self._store.aggregate_alerts(query, by, interval=interval, size=size)

    def detail(self, alert_id: str) -> AlertDetail:
        alert = self._store.get_alert(alert_id)
        flows, missing = [], []
        for flow_id in alert.evidence.flow_ids[:MAX_FLOWS_SHOWN]:
            try:
                flows.append(self._store.get_flow(flow_id))
            except NotFoundError:
                missing.append(flow_id)
        data = alert.data
        strings = data.get("strings") if alert.rule.id.startswith("yara:") else None
        anomaly = (
            {k: data[k] for k in _ANOMALY_KEYS if k in data} if "explanation" in data else None
        )
        return AlertDetail(
            alert=alert,
            flows=flows,
            flows_missing=missing,
            yara_strings=strings if isinstance(strings, list) else None,
            anomaly=anomaly,
            history=self._store.triage_history(alert_id),
        )

    def update(self, actor: Principal, alert_id: str, change: AlertUpdate) -> Alert:
        before = self._store.get_alert(alert_id)
        after = before
        expected = change.expected_version
        if change.changes_triage():
            after = self._store.update_triage(
                alert_id, **change.triage_fields(), expected_version=expected, actor=actor.name
            )
            expected = None if expected is None else after.version
        if change.comment is not None:
            self._store.add_comment(
                alert_id, author=actor.name, text=change.comment, expected_version=expected
            )
            after = self._store.get_alert(alert_id)
        if after.version != before.version:
            self._audit.record(
                actor, "alert.update", "alert", alert_id, _state(before), _state(after)
            )
        return after

    def comment(
        self, actor: Principal, alert_id: str, text: str, expected_version: int | None
    ) -> Comment:
        before = self._store.get_alert(alert_id)
        comment = self._store.add_comment(
            alert_id, author=actor.name, text=text, expected_version=expected_version
        )
        self._audit.record(
            actor, "alert.comment", "alert", alert_id, {"version": before.version},
            {"version": before.version + 1, "comment": comment.model_dump(mode="json")},
        )  # fmt: skip
        return comment

    def bulk(self, actor: Principal, alert_ids: list[str], change: AlertUpdate) -> BulkResult:
        """The same change to each alert, each on its own: one failure stops none of the others."""
        results = []
        for alert_id in dict.fromkeys(alert_ids):
            try:
                before_version = self._store.get_alert(alert_id).version
                after = self.update(actor, alert_id, change)
            except NotFoundError as exc:
                results.append(BulkItem(alert_id=alert_id, outcome="not_found", status=404,
                                        detail=exc.message))  # fmt: skip
                continue
            except ConflictError as exc:
                results.append(BulkItem(alert_id=alert_id, outcome="conflict", status=409,
                                        detail=exc.message))  # fmt: skip
                continue
            except TriageError as exc:
                results.append(BulkItem(alert_id=alert_id, outcome="refused", status=409,
                                        detail=exc.message))  # fmt: skip
                continue
            outcome = "updated" if after.version != before_version else "unchanged"
            results.append(
                BulkItem(alert_id=alert_id, outcome=outcome, status=200, version=after.version)
            )
        failed = sum(1 for r in results if r.status >= 400)
        updated = sum(1 for r in results if r.outcome == "updated")
        return BulkResult(results=results, updated=updated, failed=failed)


def _state(alert: Alert) -> dict[str, Any]:
    """What an analyst change can touch, for the audit log."""
    return {
        "version": alert.version,
        "triage": alert.triage.model_dump(mode="json"),
        "comments": len(alert.comments),
    }

"""Copying one store into another (``cityshield store migrate``): alerts with their analyst state,
their triage histories, and flows, page by page so that memory stays flat whatever the size.

Copying again is harmless: alerts are upserted (a stored alert keeps the target's triage), flows
replace by id, and triage histories skip the rows the target has already.
"""

from __future__ import annotations

from collections.abc import Callable

from alerts.stores.base import AlertQuery, AlertStore, FlowQuery, flow_cursor

#: Called with (what, how many more) as pages are copied: "alerts", "flows", "triage_changes".
Progress = Callable[[str, int], None]

PAGE = 1000


def migrate(
    source: AlertStore, target: AlertStore, *, progress: Progress | None = None
) -> dict[str, int]:
    """Copy everything ``source`` holds into ``target``; returns how much of each was copied."""
    report = progress or (lambda what, n: None)
    copied = {"alerts": 0, "triage_changes": 0, "flows": 0}
    cursor: str | None = None
    while True:
        page = source.query_alerts(AlertQuery(limit=PAGE, cursor=cursor))
        alerts = []
        histories = {}
        for alert in page.items:
            if alert.version or alert.triage.updated_at is not None:
                history = source.triage_history(alert.id)
                histories[alert.id] = history
                # Stores from before versions (SQLite schema < 4) logged changes at version 0:
                # the version counts analyst changes, so it is at least the log's length.
                if len(history) > alert.version:
                    alert = alert.model_copy(update={"version": len(history)})
            alerts.append(alert)
        target.upsert_alerts(alerts)
        for alert_id, history in histories.items():
            added = target.append_triage_log(alert_id, history)
            copied["triage_changes"] += added
            report("triage_changes", added)
        copied["alerts"] += len(alerts)
        report("alerts", len(alerts))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    flows = source.query_flows(FlowQuery(limit=PAGE))
    while flows:
        target.add_flows(flows)
        copied["flows"] += len(flows)
        report("flows", len(flows))
        flows = source.query_flows(FlowQuery(limit=PAGE, cursor=flow_cursor(flows[-1])))
    return copied

"""Query DSL for the Elasticsearch store: the filters of ``AlertQuery``/``FlowQuery``, keyset
pages with ``search_after``, and the console aggregations, matching the SQLite store exactly.

Times are compared and sorted on the store's microsecond fields (``cityshield.store.*_us``), as
the SQLite store does, so that both stores agree to the microsecond on ranges and page order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.model import Alert, Severity, iso
from alerts.stores.base import AlertQuery, FlowQuery, RecordQuery, decode_cursor
from alerts.stores.buckets import AggregateBy, AlertBucket

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

ALERT_SORT = [{"cityshield.store.last_us": "desc"}, {"event.id": "desc"}]
FLOW_SORT = [{"cityshield.store.end_us": "desc"}, {"event.id": "desc"}]
MATCH_NONE: dict[str, Any] = {"match_none": {}}

_TERM_FIELDS = {
    "rule": "rule.id",
    "source": "source.ip",
    "destination": "destination.ip",
    "severity": "event.severity",
}


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _US


def alert_store_fields(alert: Alert) -> dict[str, Any]:
    """The document the store indexes for an alert: ECS plus the store's own fields."""
    doc = alert.to_ecs()
    doc["cityshield"]["store"] = {
        "first_us": micros(alert.first_seen),
        "last_us": micros(alert.last_seen),
    }
    return doc


def _common(query: RecordQuery, first: str, last: str) -> list[dict[str, Any]]:
    filters: list[dict[str, Any]] = []
    if query.start is not None:
        filters.append({"range": {last: {"gte": micros(query.start)}}})
    if query.end is not None:
        filters.append({"range": {first: {"lte": micros(query.end)}}})
    if query.ip is not None:
        filters.append(
            {
                "bool": {
                    "should": [
                        {"term": {"source.ip": query.ip}},
                        {"term": {"destination.ip": query.ip}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if query.community_id is not None:
        filters.append({"term": {"network.community_id": query.community_id}})
    if query.observer is not None:
        filters.append({"term": {"observer.name": query.observer}})
    return filters


def _terms(field: str, values: list[Any]) -> dict[str, Any]:
    return {"terms": {field: values}} if values else MATCH_NONE


def _wildcard_literal(text: str) -> str:
    """``*text*`` with the wildcard syntax in ``text`` escaped, so that it is taken literally."""
    escaped = text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return f"*{escaped}*"


def alert_filter(query: AlertQuery) -> dict[str, Any]:
    f = "cityshield.store."
    filters = _common(query, f"{f}first_us", f"{f}last_us")
    if query.severities is not None:
        filters.append(_terms("event.severity", [s.rank for s in query.severities]))
    if query.min_severity is not None:
        filters.append({"range": {"event.severity": {"gte": query.min_severity.rank}}})
    if query.rule_ids is not None:
        filters.append(_terms("rule.id", list(query.rule_ids)))
    if query.statuses is not None:
        filters.append(_terms("cityshield.alert.triage.status", [s.value for s in query.statuses]))
    if query.tags is not None:
        filters.append(_terms("tags", list(query.tags)))
    if query.text:
        pattern = _wildcard_literal(query.text)
        filters.append(
            {
                "bool": {
                    "should": [
                        {"wildcard": {field: {"value": pattern, "case_insensitive": True}}}
                        for field in ("message.raw", "rule.name")
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    return {"bool": {"filter": filters}}


def flow_filter(query: FlowQuery) -> dict[str, Any]:
    filters = _common(query, "cityshield.store.start_us", "cityshield.store.end_us")
    if query.transport is not None:
        filters.append({"term": {"network.transport": query.transport}})
    if query.conn_state is not None:
        filters.append({"term": {"cityshield.flow.conn_state": query.conn_state}})
    return {"bool": {"filter": filters}}


def search_after(query: RecordQuery) -> list[Any] | None:
    if query.cursor is None:
        return None
    seen, record_id = decode_cursor(query.cursor)
    return [micros(seen), record_id]


def terms_aggregation(by: AggregateBy, size: int) -> dict[str, Any]:
    return {
        "terms": {
            "field": _TERM_FIELDS[by],
            "size": size,
            # Per-shard candidates: generous, so that top-N over monthly indices stays exact
            # unless a field has very many values.
            "shard_size": max(size * 10, 100),
            "order": [{"_count": "desc"}, {"_key": "asc"}],
        },
        "aggs": {"events": {"sum": {"field": "cityshield.alert.count"}}},
    }


def histogram_aggregation(interval_s: int) -> dict[str, Any]:
    # A numeric histogram on the microsecond field: exact, and the same buckets as SQLite's
    # ``first_seen - first_seen % width`` (both count intervals from the epoch).
    return {
        "histogram": {
            "field": "cityshield.store.first_us",
            "interval": interval_s * 1_000_000,
            "min_doc_count": 1,
        },
        "aggs": {"events": {"sum": {"field": "cityshield.alert.count"}}},
    }


def buckets(by: AggregateBy, raw: list[dict[str, Any]]) -> list[AlertBucket]:
    out = []
    for b in raw:
        key = b["key"]
        if by == "time":
            text = iso(from_micros(int(key)))
        elif by == "severity":
            text = Severity.from_rank(int(key)).value
        else:
            text = str(key)
        out.append(
            AlertBucket(key=text, alerts=int(b["doc_count"]), events=int(b["events"]["value"]))
        )
    return out

"""The console aggregations of the SQLite store: one ``GROUP BY`` per question.

Keys and order follow ``alerts.stores.buckets`` so that both stores give the same answer: most
alerts first, ties by key (SQLite compares TEXT and BLOB bytewise, as Elasticsearch compares
keywords and ``ip`` values); time buckets oldest first.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from socket import AF_INET, AF_INET6, inet_ntop

from alerts.model import Severity, iso
from alerts.stores.base import AlertQuery
from alerts.stores.buckets import (
    AggregateBy,
    AlertBucket,
    check_interval,
    check_size,
    check_time_span,
)
from alerts.stores.sqlite_query import Where, alert_where, from_micros, micros

_V4_MAPPED = bytes(10) + b"\xff\xff"
#: Aggregations read the covering index (migration 5): a million rows of it are ~70 MB, the rows
#: themselves with their documents ~1.5 GB. Left to itself the planner walks the grouped column's
#: index in order and reads every row (8 s for "top sources of one day" on a million alerts).
_CONSOLE = "alerts INDEXED BY alerts_console"

#: The column each term aggregation groups by (constants: only these become SQL text).
_TERM_COLUMNS: dict[str, str] = {
    "rule": "rule_id",
    "source": "src_ip",
    "destination": "dst_ip",
    "severity": "severity",
}


def blob_ip(blob: bytes) -> str:
    """The text form of a 16-byte stored address; IPv4-mapped addresses as IPv4."""
    if blob.startswith(_V4_MAPPED):
        return inet_ntop(AF_INET, blob[12:])
    return inet_ntop(AF_INET6, blob)


def aggregate(
    db: sqlite3.Connection,
    query: AlertQuery,
    by: AggregateBy,
    *,
    interval: timedelta | None,
    size: int,
    max_span_us: int,
) -> list[AlertBucket]:
    where = alert_where(query, keyset=False, max_span_us=max_span_us)
    if by == "time":
        return _histogram(db, where, check_interval(interval))
    column = _TERM_COLUMNS.get(by)
    if column is None:
        raise ValueError(f"cannot aggregate alerts by {by!r}")
    where.add(f"{column} IS NOT NULL")
    sql = where.statement(
        f"SELECT {column}, count(*), sum(count) FROM {_CONSOLE}",  # noqa: S608 - constants
        f" GROUP BY {column} ORDER BY 2 DESC, 1 ASC LIMIT ?",
    )
    rows = db.execute(sql, [*where.params, check_size(size)]).fetchall()
    return [AlertBucket(key=_key(by, key), alerts=n, events=events) for key, n, events in rows]


def _key(by: AggregateBy, value: object) -> str:
    if by in ("source", "destination") and isinstance(value, bytes):
        return blob_ip(value)
    if by == "severity" and isinstance(value, int):
        return Severity.from_rank(value).value
    return str(value)


def _histogram(db: sqlite3.Connection, where: Where, interval_s: int) -> list[AlertBucket]:
    span = db.execute(
        where.statement(f"SELECT min(first_seen), max(first_seen) FROM {_CONSOLE}"),  # noqa: S608
        where.params,
    ).fetchone()
    if span[0] is None:
        return []
    check_time_span(from_micros(span[0]), from_micros(span[1]), interval_s)
    width = micros(from_micros(0) + timedelta(seconds=interval_s))
    sql = where.statement(
        f"SELECT first_seen - first_seen % ? AS bucket, count(*), sum(count) FROM {_CONSOLE}",  # noqa: S608
        " GROUP BY bucket ORDER BY bucket",
    )
    rows = db.execute(sql, [width, *where.params]).fetchall()
    return [
        AlertBucket(key=iso(from_micros(start)), alerts=n, events=events)
        for start, n, events in rows
    ]

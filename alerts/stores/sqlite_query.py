"""Rows and WHERE clauses for the SQLite store: how alerts, flows and queries map onto columns.

Values always travel as parameters, never inside the SQL text: queries come from the HTTP API.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from socket import AF_INET, AF_INET6, inet_pton
from typing import Any

import orjson

from alerts.model import Alert
from alerts.stores.base import AlertQuery, FlowQuery, RecordQuery, decode_cursor, flow_span

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_V4_MAPPED = bytes(10) + b"\xff\xff"


def dumps(doc: Any) -> str:
    """Compact JSON with orjson: a flow document encodes ~10x faster than with the json module,
    and a capture's flows are written by the hundred thousand."""
    return orjson.dumps(doc).decode()


# Column order here is the order of alert_row and flow_row.
UPSERT_ALERT = """
    INSERT INTO alerts (id, rule_id, rule_name, severity, risk_score, first_seen, last_seen,
                        status, assignee, observer, community_id, src_ip, dst_ip, message, count,
                        version, doc)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        rule_id = excluded.rule_id, rule_name = excluded.rule_name,
        severity = excluded.severity, risk_score = excluded.risk_score,
        first_seen = excluded.first_seen, last_seen = excluded.last_seen,
        status = excluded.status, assignee = excluded.assignee, observer = excluded.observer,
        community_id = excluded.community_id, src_ip = excluded.src_ip, dst_ip = excluded.dst_ip,
        message = excluded.message, count = excluded.count, version = excluded.version,
        doc = excluded.doc
"""
INSERT_FLOW = """
    INSERT OR REPLACE INTO flows (id, start_us, end_us, community_id, transport, src_ip, src_port,
                                  dst_ip, dst_port, conn_state, observer, doc)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def micros(value: datetime) -> int:
    """Microseconds since the epoch: integers compare fast and exactly in an index."""
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def ip_blob(ip: str) -> bytes:
    """The 16-byte form of an address; IPv4 as IPv4-mapped IPv6 (``::ffff:a.b.c.d``), so that both
    families sort in one index and a CIDR block is one contiguous range of it.

    ``inet_pton`` rather than ``ipaddress``: it runs for two addresses of every flow and is eight
    times faster. A malformed address raises ``ValueError``."""
    try:
        if ":" in ip:
            return inet_pton(AF_INET6, ip)
        return _V4_MAPPED + inet_pton(AF_INET, ip)
    except OSError as exc:
        raise ValueError(f"not an IP address: {ip!r}") from exc


def network_range(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[bytes, bytes]:
    """The first and last 16-byte address of a CIDR block."""
    prefix = _V4_MAPPED if network.version == 4 else b""
    return (
        prefix + network.network_address.packed,
        prefix + network.broadcast_address.packed,
    )


def alert_row(alert: Alert) -> tuple[Any, ...]:
    src = ip_blob(alert.source.ip) if alert.source else None
    dst = ip_blob(alert.destination.ip) if alert.destination else None
    return (
        alert.id,
        alert.rule.id,
        alert.rule.name,
        alert.severity.rank,
        alert.risk_score,
        micros(alert.first_seen),
        micros(alert.last_seen),
        alert.triage.status.value,
        alert.triage.assignee,
        alert.observer,
        alert.community_id,
        src,
        dst,
        alert.message,
        alert.count,
        alert.version,
        dumps(alert.to_ecs()),
    )


def flow_row(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    """The columns of one flow document. This runs for every flow, so it does only lookups."""
    network = doc.get("network") or {}
    source = doc.get("source") or {}
    destination = doc.get("destination") or {}
    start, end = flow_span(doc)
    src_ip = source.get("ip")
    dst_ip = destination.get("ip")
    return (
        doc["event"]["id"],
        micros(start),
        micros(end),
        network.get("community_id"),
        network.get("transport"),
        ip_blob(src_ip) if src_ip else None,
        source.get("port"),
        ip_blob(dst_ip) if dst_ip else None,
        destination.get("port"),
        ((doc.get("cityshield") or {}).get("flow") or {}).get("conn_state"),
        (doc.get("observer") or {}).get("name"),
        dumps(doc),
    )


class Where:
    """A conjunction of SQL conditions with their parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def add(self, condition: str, *params: Any) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def one_of(self, column: str, values: Sequence[Any]) -> None:
        if not values:
            self.add("0")  # an empty list of allowed values allows nothing
            return
        self.add(f"{column} IN ({', '.join('?' * len(values))})", *values)

    @property
    def sql(self) -> str:
        return " WHERE " + " AND ".join(self.conditions) if self.conditions else ""

    def statement(self, head: str, tail: str = "") -> str:
        """``head`` (a constant ``SELECT ... FROM t``), these conditions, then ``tail``. Only
        constant fragments become SQL text; every value is a parameter."""
        return f"{head}{self.sql}{tail}"


#: Upserting the longest span seen: store_meta holds the maximum over every write.
BUMP_SPAN = """
    INSERT INTO store_meta (key, value) VALUES (?, ?)
    ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)
"""


def _common(
    query: RecordQuery, first: str, last: str, *, keyset: bool, max_span_us: int | None
) -> Where:
    where = Where()
    if query.start is not None:
        where.add(f"{last} >= ?", micros(query.start))
    if query.end is not None:
        where.add(f"{first} <= ?", micros(query.end))
        if max_span_us is not None:
            # Implied by the line above for every stored record (last - first <= the longest
            # span stored), and it bounds the range scanned on the (last, id) index.
            where.add(f"{last} <= ?", micros(query.end) + max_span_us)
    network = query.network()
    if network is not None:
        low, high = network_range(network)
        where.add("(src_ip BETWEEN ? AND ? OR dst_ip BETWEEN ? AND ?)", low, high, low, high)
    if query.community_id is not None:
        where.add("community_id = ?", query.community_id)
    if query.observer is not None:
        where.add("observer = ?", query.observer)
    if keyset and query.cursor is not None:
        seen, record_id = decode_cursor(query.cursor)
        # Row-value comparison: SQLite turns it into a range on the (time, id) index.
        where.add(f"({last}, id) < (?, ?)", micros(seen), record_id)
    return where


def alert_where(query: AlertQuery, *, keyset: bool = True, max_span_us: int | None = None) -> Where:
    where = _common(query, "first_seen", "last_seen", keyset=keyset, max_span_us=max_span_us)
    if query.severities is not None:
        where.one_of("severity", [s.rank for s in query.severities])
    if query.min_severity is not None:
        where.add("severity >= ?", query.min_severity.rank)
    if query.rule_ids is not None:
        where.one_of("rule_id", query.rule_ids)
    if query.statuses is not None:
        where.one_of("status", [s.value for s in query.statuses])
    if query.tags is not None:
        if query.tags:
            marks = ", ".join("?" * len(query.tags))
            tagged = f"SELECT alert_id FROM alert_tags WHERE tag IN ({marks})"  # noqa: S608
            where.add(f"id IN ({tagged})", *query.tags)
        else:
            where.add("0")  # like the other lists: no allowed tag allows nothing
    if query.text:
        # LIKE is case-insensitive for ASCII; escape its wildcards so the text is taken literally.
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        where.add("(message LIKE ? ESCAPE '\\' OR rule_name LIKE ? ESCAPE '\\')", pattern, pattern)
    return where


def flow_where(query: FlowQuery, *, keyset: bool = True, max_span_us: int | None = None) -> Where:
    where = _common(query, "start_us", "end_us", keyset=keyset, max_span_us=max_span_us)
    if query.transport is not None:
        where.add("transport = ?", query.transport)
    if query.conn_state is not None:
        where.add("conn_state = ?", query.conn_state)
    return where

"""alerts.stores.base: the rules every store shares (upsert refresh, cursors, query models)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts.evidence import Evidence
from alerts.model import Alert, CloseReason, Severity, Triage, TriageStatus
from alerts.stores.base import AlertQuery, decode_cursor, encode_cursor, flow_span, refresh

AlertFactory = Callable[..., Alert]


def test_refresh_keeps_triage_and_never_rolls_back(make_alert: AlertFactory, t0: datetime) -> None:
    triage = Triage(status=TriageStatus.CLOSED, close_reason=CloseReason.DUPLICATE)
    stored = make_alert(
        count=9,
        severity=Severity.HIGH,
        last_seen=t0 + timedelta(minutes=9),
        evidence=Evidence(flow_ids=["a"]),
        data={"v": "stored"},
        message="stored",
    ).model_copy(update={"triage": triage})
    incoming = make_alert(
        count=4,
        severity=Severity.LOW,
        last_seen=t0 + timedelta(minutes=4),
        evidence=Evidence(flow_ids=["b"]),
        data={"v": "incoming"},
        message="incoming",
    )
    merged = refresh(stored, incoming)
    assert merged.triage == triage
    assert (merged.count, merged.severity) == (9, Severity.HIGH)
    assert merged.last_seen == t0 + timedelta(minutes=9)
    assert merged.evidence.flow_ids == ["a", "b"]
    assert (merged.message, merged.data) == ("stored", {"v": "stored"})
    newer = refresh(stored, incoming.model_copy(update={"last_seen": t0 + timedelta(hours=1)}))
    assert (newer.message, newer.data) == ("incoming", {"v": "incoming"})


def test_cursors_round_trip(t0: datetime) -> None:
    assert decode_cursor(encode_cursor(t0, "abc")) == (t0, "abc")


@given(st.text())
def test_any_text_as_cursor_is_a_value_error_or_a_cursor(text: str) -> None:
    try:
        seen, record_id = decode_cursor(text)
    except ValueError:
        return
    assert seen.tzinfo is not None
    assert isinstance(record_id, str)


def test_query_normalises_ip_and_checks_limits() -> None:
    assert AlertQuery(ip="10.1.2.3/16").ip == "10.1.0.0/16"
    assert AlertQuery(ip="2001:DB8::1").ip == "2001:db8::1/128"
    with pytest.raises(ValidationError):
        AlertQuery(limit=0)
    with pytest.raises(ValidationError):
        AlertQuery(start=datetime(2024, 1, 1))  # noqa: DTZ001 - naive times are refused
    with pytest.raises(ValidationError, match="extra"):
        AlertQuery.model_validate({"severity": "high"})


def test_flow_span_falls_back_to_the_timestamp() -> None:
    start, end = flow_span({"@timestamp": "2024-05-01T10:00:00Z", "event": {"id": "x"}})
    assert start == end == datetime.fromisoformat("2024-05-01T10:00:00Z")

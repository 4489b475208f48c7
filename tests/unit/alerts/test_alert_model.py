"""alerts.model: validation, the detector factory, field lookup and the ECS round trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts.evidence import Evidence
from alerts.model import (
    SCHEMA_VERSION,
    Alert,
    CloseReason,
    Endpoint,
    RuleRef,
    Severity,
    Triage,
    TriageStatus,
)

AlertFactory = Callable[..., Alert]
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)  # the make_alert fixture's default time


def _full_alert(make_alert: AlertFactory) -> Alert:
    alert = make_alert(
        dst="2001:db8::7",
        dport=443,
        severity=Severity.CRITICAL,
        transport="tcp",
        community_id="1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        techniques=["T1046", "T1071.004"],
        count=3,
        last_seen=T0 + timedelta(seconds=5, microseconds=17),
        risk_score=88.5,
        evidence=Evidence(
            flow_ids=["f1"], community_ids=["1:x="], capture_file="a.pcap", frames=[3]
        ),
        data={"ports": [22, 80], "nested": {"ratio": 0.5, "ok": True, "none": None}},
    )
    triage = Triage(
        status=TriageStatus.CLOSED,
        assignee="ana",
        close_reason=CloseReason.BENIGN_POSITIVE,
        updated_at=T0 + timedelta(hours=1),
    )
    return alert.model_copy(update={"triage": triage})


def test_severity_ranks_and_default_risk_scores_follow_elastic() -> None:
    assert [s.rank for s in Severity] == [1, 2, 3, 4]
    assert [s.risk_score for s in Severity] == [21, 47, 73, 99]
    assert Severity.from_rank(3) is Severity.HIGH
    with pytest.raises(ValueError, match="rank 5"):
        Severity.from_rank(5)


def test_endpoint_normalises_addresses_and_rejects_bad_ones() -> None:
    assert Endpoint(ip="2001:DB8:0:0::1").ip == "2001:db8::1"
    assert Endpoint(ip="10.0.0.1", port=0).port == 0
    for bad in ({"ip": "10.0.0.256"}, {"ip": "example.org"}, {"ip": "10.0.0.1", "port": 65536}):
        with pytest.raises(ValidationError):
            Endpoint.model_validate(bad)


def test_closing_needs_a_reason_and_only_closed_alerts_have_one() -> None:
    with pytest.raises(ValidationError, match="close_reason"):
        Triage(status=TriageStatus.CLOSED)
    with pytest.raises(ValidationError, match="only for closed"):
        Triage(status=TriageStatus.ACKNOWLEDGED, close_reason=CloseReason.DUPLICATE)
    closed = Triage(status=TriageStatus.CLOSED, close_reason=CloseReason.FALSE_POSITIVE)
    assert closed.close_reason is CloseReason.FALSE_POSITIVE


def test_naive_datetimes_are_rejected_and_others_become_utc(make_alert: AlertFactory) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        make_alert(at=datetime(2024, 5, 1, 10, 0))  # noqa: DTZ001 - the point of the test
    plus_two = timezone(timedelta(hours=2))
    alert = make_alert(at=datetime(2024, 5, 1, 12, 0, tzinfo=plus_two))
    assert alert.first_seen == T0
    assert alert.first_seen.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"techniques": ["T46"]}, "pattern"),
        ({"techniques": ["t1046"]}, "pattern"),
        ({"techniques": ["T1046.1"]}, "pattern"),
        ({"count": 0}, "greater than or equal to 1"),
        ({"risk_score": 100.5}, "less than or equal to 100"),
        ({"last_seen": T0 - timedelta(seconds=1)}, "before first_seen"),
        ({"aggregation_fields": ["source.address"]}, "unknown alert field"),
    ],
)
def test_invalid_alerts_are_rejected(
    make_alert: AlertFactory, overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        make_alert(**overrides)


def test_raised_fills_defaults_and_derives_a_stable_id(make_alert: AlertFactory) -> None:
    alert = make_alert(severity=Severity.HIGH)
    assert alert.risk_score == 73
    assert alert.last_seen == alert.first_seen == T0
    assert alert.count == 1
    assert alert.triage == Triage()
    assert alert.aggregation_fields == ["source.ip", "destination.ip", "destination.port"]
    assert len(alert.id) == 20
    assert make_alert(severity=Severity.HIGH).id == alert.id
    assert make_alert(dport=81).id != alert.id
    assert make_alert(at=T0 + timedelta(microseconds=1)).id != alert.id
    assert make_alert(observer="sensor-2").id != alert.id


def test_field_reads_ecs_names_and_data(make_alert: AlertFactory) -> None:
    alert = make_alert(data={"dns": {"qname": "x.example"}, "hits": [1, 2]}, transport="udp")
    assert alert.field("source.ip") == "10.0.0.1"
    assert alert.field("destination.port") == 80
    assert alert.field("network.transport") == "udp"
    assert alert.field("rule.id") == "port_scan"
    assert alert.field("cityshield.alert.data.dns.qname") == "x.example"
    assert alert.field("cityshield.alert.data.dns.missing") is None
    assert make_alert(src=None).field("source.port") is None
    with pytest.raises(ValueError, match="unknown alert field"):
        alert.field("source.mac")


def test_aggregation_key_is_the_values_of_the_aggregation_fields(make_alert: AlertFactory) -> None:
    alert = make_alert(
        aggregation_fields=["source.ip", "cityshield.alert.data.hits"], data={"hits": [1, 2]}
    )
    assert alert.aggregation_key() == ("10.0.0.1", "[1, 2]")
    assert make_alert().aggregation_key() == ("10.0.0.1", "10.0.0.2", 80)


def test_to_ecs_uses_ecs_names(make_alert: AlertFactory) -> None:
    doc = _full_alert(make_alert).to_ecs()
    assert doc["@timestamp"] == "2024-05-01T10:00:00.000000Z"
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["severity"] == 4
    assert doc["event"]["risk_score"] == 88.5
    assert doc["event"]["end"] == "2024-05-01T10:00:05.000017Z"
    assert doc["destination"] == {"ip": "2001:db8::7", "port": 443}
    assert doc["source"] == {"ip": "10.0.0.1"}
    assert doc["network"] == {"transport": "tcp", "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg="}
    assert doc["observer"] == {"name": "sensor-1"}
    assert doc["rule"]["id"] == "port_scan"
    assert doc["threat"] == {
        "framework": "MITRE ATT&CK",
        "technique": {"id": ["T1046", "T1071.004"]},
    }
    ext = doc["cityshield"]["alert"]
    assert ext["schema_version"] == SCHEMA_VERSION
    assert ext["count"] == 3
    assert ext["triage"]["close_reason"] == "benign_positive"
    assert ext["triage"]["updated_at"] == "2024-05-01T11:00:00.000000Z"
    assert ext["evidence"]["frames"] == [3]


def test_minimal_alert_leaves_out_what_it_does_not_have(make_alert: AlertFactory) -> None:
    doc = make_alert(src=None, dst=None).to_ecs()
    assert {"source", "destination", "network", "threat"}.isdisjoint(doc)


def test_ecs_round_trip_through_json(make_alert: AlertFactory) -> None:
    for alert in (_full_alert(make_alert), make_alert(src=None, dst=None)):
        doc = json.loads(json.dumps(alert.to_ecs()))
        assert Alert.from_ecs(doc) == alert


def test_from_ecs_refuses_newer_and_foreign_documents(make_alert: AlertFactory) -> None:
    doc = make_alert().to_ecs()
    doc["cityshield"]["alert"]["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="newer"):
        Alert.from_ecs(doc)
    with pytest.raises(ValueError, match="not a CityShield alert"):
        Alert.from_ecs({"event": {"kind": "alert"}})


_ips = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
_times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


@given(
    src=_ips,
    dst=st.none() | _ips,
    port=st.none() | st.integers(0, 65535),
    severity=st.sampled_from(Severity),
    first=_times,
    span=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    data=st.dictionaries(st.text(max_size=5), _json, max_size=3),
    count=st.integers(1, 10**9),
    message=st.text(),
)
def test_ecs_round_trip_of_any_alert(
    src: str,
    dst: str | None,
    port: int | None,
    severity: Severity,
    first: datetime,
    span: timedelta,
    data: dict[str, Any],
    count: int,
    message: str,
) -> None:
    alert = Alert.raised(
        rule=RuleRef(id="r", name="R"),
        severity=severity,
        message=message,
        observer="s",
        first_seen=first,
        last_seen=first + span,
        source=Endpoint(ip=src),
        destination=None if dst is None else Endpoint(ip=dst, port=port),
        count=count,
        data=data,
    )
    assert Alert.from_ecs(json.loads(json.dumps(alert.to_ecs()))) == alert

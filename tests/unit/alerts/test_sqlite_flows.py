"""alerts.stores.sqlite: flow documents stored, filtered, paged and fetched by id."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.stores import FlowQuery, SqliteAlertStore, flow_cursor
from cityshield.errors import NotFoundError, StoreError

FlowFactory = Callable[..., dict[str, Any]]


def _ids(store: SqliteAlertStore, **filters: object) -> set[str]:
    flows = store.query_flows(FlowQuery.model_validate({"limit": 1000, **filters}))
    return {f["event"]["id"] for f in flows}


def test_added_flows_come_back_unchanged(store: SqliteAlertStore, make_flow: FlowFactory) -> None:
    flows = [make_flow(f"f{i}", sport=50000 + i) for i in range(3)]
    assert store.add_flows(flows) == 3
    assert store.get_flow("f1") == flows[1]
    assert store.stats()["flows"] == 3
    with pytest.raises(NotFoundError, match="no flow"):
        store.get_flow("nope")


def test_adding_a_flow_id_again_replaces_it(
    store: SqliteAlertStore, make_flow: FlowFactory
) -> None:
    store.add_flows([make_flow("f1", conn_state="S0")])
    store.add_flows([make_flow("f1", conn_state="SF")])
    assert store.stats()["flows"] == 1
    assert store.get_flow("f1")["cityshield"]["flow"]["conn_state"] == "SF"
    assert _ids(store, conn_state="S0") == set()


def test_flows_without_ports_are_stored(store: SqliteAlertStore, make_flow: FlowFactory) -> None:
    icmp = make_flow("icmp", transport="icmp", sport=None, dport=None)
    store.add_flows([icmp])
    assert store.get_flow("icmp") == icmp
    assert _ids(store, transport="ICMP") == {"icmp"}


def test_flow_filters(store: SqliteAlertStore, make_flow: FlowFactory, t0: datetime) -> None:
    minute = timedelta(minutes=1)
    store.add_flows(
        [
            make_flow("a", src="10.0.0.1", dst="10.9.0.1", start=t0, duration=minute),
            make_flow("b", src="10.0.0.2", dst="192.0.2.1", start=t0 + 5 * minute),
            make_flow("c", src="2001:db8::1", dst="2001:db8:ff::2", community_id="1:c="),
            make_flow("d", transport="udp", dport=53, conn_state="S0", observer="sensor-2"),
        ]
    )
    assert _ids(store, start=t0 + minute / 2, end=t0 + minute) == {"a"}
    assert _ids(store, start=t0 + 5 * minute) == {"b"}
    assert _ids(store, ip="10.9.0.0/16") == {"a"}
    assert _ids(store, ip="192.0.2.1") == {"b"}
    assert _ids(store, ip="2001:db8:ff::/48") == {"c"}
    assert _ids(store, ip="2001:db8::/32") == {"c"}
    assert _ids(store, community_id="1:c=") == {"c"}
    assert _ids(store, transport="udp") == {"d"}
    assert _ids(store, conn_state="S0") == {"d"}
    assert _ids(store, observer="sensor-2") == {"d"}
    assert _ids(store, transport="tcp", ip="10.0.0.0/8") == {"a", "b"}


def test_flow_pages_continue_from_the_last_flow(
    store: SqliteAlertStore, make_flow: FlowFactory, t0: datetime
) -> None:
    flows = [
        make_flow(f"f{i:03d}", start=t0 + timedelta(milliseconds=i // 2), duration=timedelta(0))
        for i in range(120)
    ]
    store.add_flows(flows)
    seen: list[str] = []
    query = FlowQuery(limit=50)
    while page := store.query_flows(query):
        seen.extend(f["event"]["id"] for f in page)
        query = query.model_copy(update={"cursor": flow_cursor(page[-1])})
    assert len(seen) == 120
    assert seen == sorted((f["event"]["id"] for f in flows), reverse=True)


def test_a_bad_document_stores_nothing_of_its_batch(
    store: SqliteAlertStore, make_flow: FlowFactory
) -> None:
    bad_ip = make_flow("x", dst="10.0.0.300")
    no_id = make_flow("y")
    del no_id["event"]["id"]
    for bad in (bad_ip, no_id):
        with pytest.raises(StoreError, match="flow #1 of the batch"):
            store.add_flows([make_flow("ok"), bad])
    assert store.stats()["flows"] == 0


def test_a_big_batch_is_stored_in_chunks(store: SqliteAlertStore, make_flow: FlowFactory) -> None:
    # More than one executemany chunk (10,000 rows), still one call and one transaction.
    assert store.add_flows(make_flow(f"f{i}") for i in range(12_345)) == 12_345
    assert store.stats()["flows"] == 12_345


def test_flow_queries_validate_their_input() -> None:
    with pytest.raises(ValidationError):
        FlowQuery(ip="not-an-ip")
    with pytest.raises(ValidationError):
        FlowQuery(limit=1001)
    assert FlowQuery(transport="TCP").transport == "tcp"

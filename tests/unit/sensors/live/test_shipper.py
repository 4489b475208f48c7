"""The agent's sending thread against the real HTTP API on loopback: spooled batches go in order,
a batch the service refuses is put aside without holding back the rest, and nothing leaves the
spool while the service cannot be reached."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from alerts.stores import SqliteAlertStore
from alerts.stores.base import FlowQuery
from api.app.factory import create_app
from api.sensor_agent.outgoing import Outgoing
from api.sensor_agent.shipper import EvidenceJob, Shipper
from cityshield.clock import FixedClock
from sensors.agent import AgentSettings, CentralClient, DiskSpool
from tests.api.httpkit import NOW, api_settings, credentials, flow, free_port, live_server


def wait_for(check: Callable[[], Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def spool_batch(spool: DiskSpool, *flows: dict[str, Any]) -> None:
    out = Outgoing()
    out.flows.extend(flows)
    assert spool.append(lambda seq: out.payload(spool.batch_id("dmz-tap-1", seq))) is not None


def settings(url: str) -> AgentSettings:
    return AgentSettings(central_url=url, heartbeat_seconds=0.2, max_backoff_seconds=0.2,
                         request_timeout_seconds=5, config_poll_seconds=0.2)  # fmt: skip


def test_batches_go_in_order_and_a_refused_one_is_put_aside(tmp_path: Path) -> None:
    store = SqliteAlertStore(tmp_path / "alerts.db", FixedClock(NOW))
    app = create_app(api_settings(tmp_path), store, clock=FixedClock(NOW))
    token = credentials(app.state.services).tokens["sensor"]
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    spool_batch(spool, flow("f1"))
    spool_batch(spool, flow("f2", observer="somebody-else"))  # 422: not this sensor's records
    spool_batch(spool, flow("f3"))
    with live_server(app) as url:
        client = CentralClient(settings(url), token)
        shipper = Shipper(settings(url), spool, client, dict)
        shipper.start()
        wait_for(lambda: not spool.pending())
        shipper.stop(flush_seconds=0)
        client.close()
    assert shipper.stats.batches_sent == 2 and shipper.stats.batches_rejected == 1
    assert shipper.stats.heartbeats >= 1
    assert sorted(d["event"]["id"] for d in store.query_flows(FlowQuery())) == ["f1", "f3"]
    assert [p.name for p in (tmp_path / "spool" / "rejected").iterdir()] == ["000000000002.json.gz"]
    spool.close()
    store.close()


def test_nothing_leaves_the_spool_while_the_service_is_unreachable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    spool_batch(spool, flow("f1"))
    client = CentralClient(settings(url), "cs_x.y")
    shipper = Shipper(settings(url), spool, client, dict)
    shipper.start()
    wait_for(lambda: shipper.stats.retries >= 2)
    shipper.stop(flush_seconds=0)
    client.close()
    assert [e.seq for e in spool.pending()] == [1]
    assert not shipper.stats.central_reachable
    assert shipper.stats.last_error is not None and "unreachable" in shipper.stats.last_error
    spool.close()


def test_aggregation_keys_set_centrally_reach_the_sensor(tmp_path: Path) -> None:
    store = SqliteAlertStore(tmp_path / "alerts.db", FixedClock(NOW))
    app = create_app(api_settings(tmp_path), store, clock=FixedClock(NOW))
    tokens = credentials(app.state.services).tokens
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    with live_server(app) as url:
        client = CentralClient(settings(url), tokens["sensor"])
        shipper = Shipper(settings(url), spool, client, dict)
        shipper.start()
        wait_for(lambda: shipper.central_aggregation == {})
        shipper.config_changed.clear()
        set_keys = httpx.put(f"{url}/api/v1/aggregation/port_scan.vertical",
                             json={"fields": ["source.ip"]},
                             headers={"Authorization": f"Bearer {tokens['analyst']}"})  # fmt: skip
        assert set_keys.status_code == 200, set_keys.text
        wait_for(shipper.config_changed.is_set)
        shipper.stop(flush_seconds=0)
        client.close()
    assert shipper.central_aggregation == {"port_scan.vertical": ["source.ip"]}
    spool.close()
    store.close()


def test_pending_evidence_uploads_survive_a_restart(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    spool = DiskSpool(tmp_path / "spool", max_bytes=1 << 20)
    client = CentralClient(settings(url), "cs_x.y")
    path = tmp_path / "evidence-pending.json"
    first = Shipper(settings(url), spool, client, dict, evidence_file=path)
    first.add_evidence([EvidenceJob("a1", ["1:x="], 1, 2, 3), EvidenceJob("a2", ["1:y="], 4, 5, 6)])
    first.add_evidence([EvidenceJob("a1", ["1:x=", "1:z="], 1, 9, 7)])  # a newer version of a1
    again = Shipper(settings(url), spool, client, dict, evidence_file=path)
    assert sorted(
        (j.alert_id, j.community_ids, j.end_ns, j.seq) for j in again._evidence.values()
    ) == [("a1", ["1:x=", "1:z="], 9, 7), ("a2", ["1:y="], 5, 6)]
    path.write_text("{not json")
    assert Shipper(settings(url), spool, client, dict, evidence_file=path)._evidence == {}
    client.close()
    spool.close()

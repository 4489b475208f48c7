"""Actions that need no network: the response-policy zone (read back by dnspython's zone
parser), evidence bundles (hashes, custody record, frames cut from a real capture), the
http.request allow-list, parameters and secrets in the run record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from alerts.evidence import Evidence
from alerts.stores import SqliteAlertStore
from cityshield.clock import FixedClock
from cityshield.errors import ActionError
from response.actions.base import ActionContext
from response.actions.control import HttpRequestAction, HttpRequestParams
from response.actions.dns import SinkholeDomainAction, SinkholeParams
from response.actions.evidence import CollectEvidenceAction, EvidenceParams
from response.settings import HttpSettings, RpzSettings
from tests.unit.response.conftest import sample_alert


def ctx(clock: FixedClock, key: str = "s") -> ActionContext:
    return ActionContext(
        run_id="run_1", step_key=key, playbook_id="p", started_by="ana", clock=clock, timeout=5
    )


def test_sinkhole_writes_a_zone_a_resolver_can_load(tmp_path: Path, clock: FixedClock) -> None:
    zone_file = tmp_path / "rpz.zone"
    action = SinkholeDomainAction(RpzSettings(zone_file=zone_file, origin="rpz.city."))
    first = action.run(SinkholeParams(domain="Portal-Login.City-Example.NET."), ctx(clock))
    again = action.run(SinkholeParams(domain="portal-login.city-example.net"), ctx(clock))
    action.run(SinkholeParams(domain="evil.example"), ctx(clock))
    assert first["added"] is True and again["added"] is False
    zone = dns.zone.from_text(zone_file.read_text(), origin="rpz.city.", relativize=True)
    cnames = {
        name.to_text(): node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)[
            0
        ].target.to_text()
        for name, node in zone.nodes.items()
        if node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) is not None
    }
    # RPZ: "CNAME ." answers NXDOMAIN for the name and, with the wildcard, all below it.
    assert cnames == {
        "portal-login.city-example.net": ".",
        "*.portal-login.city-example.net": ".",
        "evil.example": ".",
        "*.evil.example": ".",
    }
    assert zone.get_soa().serial == int(clock.now().timestamp())


@pytest.mark.parametrize(
    "bad", ["not a domain", "x", "a..b", "evil.example\n@ NS x.", "$INCLUDE.x"]
)
def test_sinkhole_refuses_what_is_not_a_domain(bad: str) -> None:
    with pytest.raises(ValueError):
        SinkholeParams(domain=bad)


def test_evidence_bundle_with_hashes_custody_and_packets(tmp_path: Path, clock: FixedClock) -> None:
    capture = tmp_path / "cap.pcap"
    packets = [
        Ether() / IP(src="203.0.113.66", dst="198.51.100.10") / TCP(sport=51000, dport=443, seq=i)
        for i in range(6)
    ]
    for i, p in enumerate(packets):
        p.time = 1_700_000_000 + i
    wrpcap(str(capture), packets)
    alert = sample_alert().model_copy(
        update={
            "evidence": Evidence(
                flow_ids=["f1", "f-missing"], capture_file=str(capture), frames=[2, 5, 99]
            )
        }
    )
    with SqliteAlertStore(tmp_path / "alerts.db", clock) as store:
        store.upsert_alerts([alert])
        store.add_flows(
            [
                {
                    "event": {
                        "id": "f1",
                        "start": "2026-03-01T12:00:00Z",
                        "end": "2026-03-01T12:00:01Z",
                    },
                    "source": {"ip": "203.0.113.66"},
                    "destination": {"ip": "198.51.100.10"},
                    "observer": {"name": "dmz-tap-1"},
                    "@timestamp": "2026-03-01T12:00:00Z",
                }
            ]
        )
        action = CollectEvidenceAction(store, tmp_path / "evidence", 10_000_000)
        result = action.run(
            EvidenceParams(alert_id=alert.id, note="for the prosecutor"), ctx(clock, "collect")
        )
    bundle = Path(str(result["bundle"]))
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert set(manifest["files"]) == {"alert.json", "flows.jsonl", "packets.pcap"}
    for name, entry in manifest["files"].items():
        data = (bundle / name).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    assert manifest["problems"] == [
        "flow f-missing not in the store",
        "1 of 3 frames not found in the capture",
    ]
    cut = rdpcap(str(bundle / "packets.pcap"))
    assert [bytes(p) for p in cut] == [bytes(packets[1]), bytes(packets[4])]
    assert [float(p.time) for p in cut] == [1_700_000_001.0, 1_700_000_004.0]
    [custody] = [json.loads(line) for line in (bundle / "custody.jsonl").read_text().splitlines()]
    assert custody["by"] == "playbook:run_1" and custody["note"] == "for the prosecutor"
    assert (
        custody["manifest_sha256"]
        == hashlib.sha256((bundle / "manifest.json").read_bytes()).hexdigest()
    )
    assert json.loads((bundle / "flows.jsonl").read_text())["event"]["id"] == "f1"


def test_http_request_only_to_allowed_hosts(clock: FixedClock) -> None:
    action = HttpRequestAction(HttpSettings(allowed_hosts=["abuse.hosting.example"]))
    with pytest.raises(ActionError, match="not on the allow-list"):
        action.run(HttpRequestParams(url="http://169.254.169.254/latest/meta-data"), ctx(clock))
    with pytest.raises(ActionError, match="not on the allow-list"):
        action.plan(HttpRequestParams(url="https://abuse.hosting.example.evil.net/"))
    assert action.plan(HttpRequestParams(url="https://ABUSE.hosting.example/r", method="POST")) == (
        "POST https://ABUSE.hosting.example/r"
    )


def test_secrets_are_not_in_the_run_record() -> None:
    params = HttpRequestParams(url="https://a.example/", bearer_token="s3cret")
    shown = params.model_dump(mode="json", by_alias=True)
    assert shown["bearer_token"] == "**********" and "s3cret" not in json.dumps(shown)

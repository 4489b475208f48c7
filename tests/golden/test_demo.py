"""The bundled demo capture, end to end: flows against the generator's ground truth, alerts against
the planted attacks, and both against golden files (``pytest --regen-golden`` rewrites them)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from alerts.model import Alert
from api.analysis import Analysis, AnalysisSummary
from api.cli.analyze import DEMO_CAPTURE
from api.composition import build_pipeline
from api.demo.manifest import Manifest
from api.settings import Settings
from sensors.engine import SensorEngine
from sensors.flows import FlowBatch
from sensors.flows.ecs import flow_documents

GOLDEN = Path(__file__).parent / "demo"
MANIFEST = DEMO_CAPTURE.with_name("egov-demo.manifest.json")
RULE_OF_KIND = {
    "port_scan_vertical": "port_scan.vertical",
    "port_scan_horizontal": "port_scan.horizontal",
    "brute_force_ssh": "brute_force.ssh",
    "brute_force_rdp": "brute_force.rdp",
}


@pytest.fixture(scope="module")
def run() -> tuple[AnalysisSummary, list[dict[str, Any]]]:
    settings = Settings()
    engine = SensorEngine(settings.sensor, seed=3)
    flows: list[FlowBatch] = []

    class Keep(Analysis):
        def _handle(self, result: Any) -> None:
            flows.append(result.flows)
            super()._handle(result)

    summary = Keep(engine, build_pipeline(settings), None).run([DEMO_CAPTURE])
    docs = [d for batch in flows for d in flow_documents(batch)]
    return summary, docs


@pytest.fixture(scope="module")
def manifest() -> Manifest:
    return Manifest.model_validate_json(MANIFEST.read_text())


def key(transport: str, oh: str, op: int, rh: str, rp: int) -> tuple[str, str, int, str, int]:
    return (transport, oh, op, rh, rp)


def test_every_packet_is_counted(run: tuple[AnalysisSummary, Any], manifest: Manifest) -> None:
    summary, _ = run
    assert summary.packets == manifest.totals.packets
    assert summary.bytes == manifest.totals.bytes
    assert summary.decoded == manifest.totals.packets
    assert summary.weird == {}


def test_flows_match_the_ground_truth(run: tuple[AnalysisSummary, Any], manifest: Manifest) -> None:
    _, docs = run
    ours = {
        key(d["network"]["transport"].replace("ipv6-icmp", "icmp"), d["source"]["ip"],
            d["source"].get("port", 0), d["destination"]["ip"], d["destination"].get("port", 0)): (
            d["source"]["packets"], d["source"]["bytes"], d["destination"]["packets"],
            d["destination"]["bytes"], d["cityshield"]["flow"]["conn_state"],
            d["network"]["community_id"])
        for d in docs
    }  # fmt: skip
    truth = {
        key(c.transport, c.orig_h, c.orig_p, c.resp_h, c.resp_p): (
            c.orig_pkts, c.orig_ip_bytes, c.resp_pkts, c.resp_ip_bytes, c.conn_state,
            c.community_id)
        for c in manifest.connections
    }  # fmt: skip
    assert len(docs) == len(manifest.connections)
    differ = {k: (ours.get(k), v) for k, v in truth.items() if ours.get(k) != v}
    assert differ == {}


def test_planted_attacks_and_nothing_else(
    run: tuple[AnalysisSummary, Any], manifest: Manifest
) -> None:
    summary, _ = run
    by_rule = {a.rule.id: a for a in summary.alerts}
    assert set(by_rule) == {RULE_OF_KIND[a.kind] for a in manifest.attacks}
    for attack in manifest.attacks:
        alert = by_rule[RULE_OF_KIND[attack.kind]]
        assert alert.source is not None and alert.source.ip == attack.source
        assert alert.count == attack.connections
        assert attack.mitre.technique_id in alert.techniques


def _golden_view(a: Alert) -> dict[str, Any]:
    doc = a.to_ecs()
    doc["cityshield"]["alert"].pop("triage", None)
    evidence = doc["cityshield"]["alert"]["evidence"]
    evidence["capture_file"] = Path(evidence["capture_file"]).name  # clones live anywhere
    return doc


def test_alerts_match_golden(run: tuple[AnalysisSummary, Any], regen_golden: bool) -> None:
    summary, _ = run
    path = GOLDEN / "alerts.jsonl"
    lines = [json.dumps(_golden_view(a), sort_keys=True) for a in summary.alerts]
    if regen_golden:
        path.write_text("\n".join(lines) + "\n")
    assert path.read_text().splitlines() == lines


def test_flow_states_match_golden(run: tuple[AnalysisSummary, Any], regen_golden: bool) -> None:
    _, docs = run
    path = GOLDEN / "flow_states.json"
    states = dict(sorted(Counter(d["cityshield"]["flow"]["conn_state"] for d in docs).items()))
    if regen_golden:
        path.write_text(json.dumps(states, indent=1) + "\n")
    assert json.loads(path.read_text()) == states

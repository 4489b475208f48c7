"""Parts of the sensor agent: outgoing batches split within ingest's item limit, and detection
rebuilt when the rule files change (a broken change keeps what runs)."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import orjson
import pytest

from api.app.fleet.batch import IngestBatch
from api.sensor_agent.outgoing import Outgoing
from api.sensor_agent.reload import RuleWatcher
from api.settings import DEFAULT_RULES_DIR, Settings
from cityshield.errors import ConfigError
from sensors.agent import AgentSettings, CentralClient
from tests.api.httpkit import alert, flow


def test_a_large_outgoing_batch_splits_with_alerts_last_and_nothing_lost() -> None:
    out = Outgoing()
    out.flows.extend(flow(f"f{i}") for i in range(7))
    out.records["dns"].extend({"event": {"id": f"d{i}"}} for i in range(3))
    a = alert()
    out.add_alerts([a, a])  # the same alert twice is one
    parts = out.split(4)
    assert [len(p) for p in parts] == [4, 4, 3]
    assert [f["event"]["id"] for p in parts for f in p.flows] == [f"f{i}" for i in range(7)]
    assert list(parts[-1].alerts) == [a.id]
    body = IngestBatch.model_validate(orjson.loads(gzip.decompress(parts[-1].payload("t/1/3"))))
    assert body.batch_id == "t/1/3" and len(body.alerts) == 1 and body.records["dns"]
    assert out.split(100) == [out]


def test_rule_changes_rebuild_detection_and_a_broken_file_keeps_the_old(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, rules)
    settings = Settings(detectors={"rules_dir": rules, "disabled": ["yara"]})
    watcher = RuleWatcher(settings, every=0)
    assert watcher.check() is None  # nothing changed
    heuristics = rules / "heuristics.toml"
    text = heuristics.read_text()
    heuristics.write_text(text.replace("vertical_min_ports = 20", "vertical_min_ports = 5"))
    os.utime(heuristics, ns=(1, 1))  # a different mtime whatever the clock's resolution
    before = watcher.version
    pipeline = watcher.check()
    assert pipeline is not None and watcher.version != before and watcher.reloads == 1
    [scan] = [d for d in pipeline.detectors if d.id == "port_scan"]
    assert scan.config.vertical_min_ports == 5
    heuristics.write_text("[port_scan\\nbroken")
    assert watcher.check() is None
    assert watcher.last_error is not None and "not loaded" in watcher.last_error
    assert "heuristics.toml" in watcher.last_error


def test_the_central_url_must_be_http() -> None:
    with pytest.raises(ConfigError, match=r"agent.central_url"):
        CentralClient(AgentSettings(central_url=""), "token")


def test_aggregation_keys_from_the_central_service_rebuild_detection() -> None:
    settings = Settings(detectors={"disabled": ["yara"]})
    watcher = RuleWatcher(settings, every=3600)
    assert watcher.check() is None
    watcher.set_central({"port_scan.vertical": ["source.ip"]})
    pipeline = watcher.check()
    assert pipeline is not None and watcher.reloads == 1
    assert pipeline.aggregator._settings.fields_by_rule["port_scan.vertical"] == ["source.ip"]
    assert watcher.check() is None  # the same keys again: nothing to do

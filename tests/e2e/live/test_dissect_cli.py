"""``cityshield dissect``: tshark's dissection of a capture file, and of a stored alert's frames
(alerts of ``analyze`` name their capture file and frame numbers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tshark") is None, reason="needs tshark (apt-get install tshark)"
    ),
]

DEMO = Path(__file__).resolve().parents[3] / "api" / "demo" / "egov-demo.pcap"


def cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=tmp, capture_output=True, text=True,
        timeout=120, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_dissect_a_file_as_text_and_json(tmp_path: Path) -> None:
    text = cli(tmp_path, "dissect", str(DEMO), "--count", "3")
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("\nFrame ") + text.stdout.startswith("Frame ") == 3
    assert "Ethernet II" in text.stdout
    js = cli(tmp_path, "dissect", str(DEMO), "--count", "2", "--json")
    assert js.returncode == 0 and len(json.loads(js.stdout)) == 2


def test_dissect_a_stored_alert_shows_its_frames(tmp_path: Path) -> None:
    store = tmp_path / "alerts.db"
    assert cli(tmp_path, "analyze", str(DEMO), "--store", str(store)).returncode == 0
    listed = cli(tmp_path, "alerts", "list", "--store", str(store), "--rule",
                 "brute_force.ssh", "--json")  # fmt: skip
    alert_id = json.loads(listed.stdout)["alerts"][0]["event"]["id"]
    shown = cli(tmp_path, "dissect", alert_id, "--store", str(store), "--json")
    assert shown.returncode == 0, shown.stderr
    packets = json.loads(shown.stdout)
    assert packets and all(
        p["_source"]["layers"]["tcp"]["tcp.dstport"] == "22"
        or p["_source"]["layers"]["tcp"]["tcp.srcport"] == "22"
        for p in packets
    )
    missing = cli(tmp_path, "dissect", "no-such-alert", "--store", str(store))
    assert missing.returncode != 0 and "neither a file nor an alert" in missing.stderr

"""``cityshield train``, ``calibrate``, ``evaluate`` and ``analyze --model`` as a user runs them
(a separate process), on the small labelled set."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def cityshield(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_train_calibrate_evaluate_analyze(labelled: Path, tmp_path: Path) -> None:
    base = str(labelled / "baseline.pcap")
    done = cityshield(tmp_path, "train", base, "--model", "site", "--target-fpr", "0.01", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["algorithm"] == "isolation_forest" and summary["flows"] > 1000
    assert (tmp_path / "models" / "site.skops").is_file()
    assert (tmp_path / "models" / "site.card.json").is_file()

    done = cityshield(tmp_path, "calibrate", "site", "--target-fpr", "0.02")
    assert done.returncode == 0, done.stderr
    card = json.loads((tmp_path / "models" / "site.card.json").read_text())
    assert card["target_fpr"] == 0.02 and card["threshold"] <= summary["threshold"]

    done = cityshield(tmp_path, "evaluate", str(labelled), "--model", "site", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    kinds = {c["kind"] for c in report["captures"]}
    assert kinds == {
        "benign",
        "exfiltration",
        "c2_beaconing",
        "dns_tunnelling",
        "slow_scan",
        "brute_force",
    }
    assert all(c["capture"] != "baseline.pcap" for c in report["captures"])

    scan = str(labelled / "slow_scan.pcap")
    done = cityshield(tmp_path, "analyze", scan, "--model", "site", "--no-store", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)["detectors"]["anomaly"]
    assert stats["flows_scored"] > 0 and stats["errors"] == 0


def test_missing_model_is_one_line(labelled: Path, tmp_path: Path) -> None:
    done = cityshield(
        tmp_path, "analyze", str(labelled / "heldout.pcap"), "--model", "nope", "--no-store"
    )
    assert done.returncode == 1
    assert "nope: no such model" in done.stderr and "Traceback" not in done.stderr

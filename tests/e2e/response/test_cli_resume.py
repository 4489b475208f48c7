"""Kill the engine in the middle of a run and start it again: the run resumes and no step is
repeated. Real processes (``cityshield playbooks run`` killed with SIGKILL, then ``playbooks
engine``) and a real webhook receiver that counts deliveries.

The step running at the kill is not idempotent (a webhook): the new engine marks its outcome
unknown and the run waits for a person; after ``playbooks retry`` it runs once more, on that
person's word, and the run finishes. Also ``playbooks validate`` on a broken file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

PLAYBOOK = """\
id: slow
name: three webhooks, the second slow
steps:
  - id: first
    action: notify.webhook
    with: {target: hook, payload: {n: 1}}
  - id: hang
    action: notify.webhook
    timeout: 60
    with: {target: hook, payload: {n: 2}}
  - id: pause
    action: wait
    with: {seconds: 0}
  - id: last
    action: notify.webhook
    with: {target: hook, payload: {n: 3}}
"""


class Hook(BaseHTTPRequestHandler):
    counts: Counter[int] = Counter()
    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Hook.counts[body["n"]] += 1
        if body["n"] == 2 and Hook.counts[2] == 1:
            Hook.arrived.set()
            Hook.release.wait(30)  # the engine is killed while it waits for this answer
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.counts, Hook.arrived, Hook.release = Counter(), threading.Event(), threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        Hook.release.set()
        server.shutdown()
        server.server_close()


def config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "slow.yaml").write_text(PLAYBOOK)
    path = tmp_path / "cityshield.toml"
    path.write_text(
        f'[store.sqlite]\npath = "{tmp_path / "alerts.db"}"\n'
        f'[api]\nservice_db = "{tmp_path / "service.db"}"\n'
        f'[response]\ndb = "{tmp_path / "response.db"}"\n'
        f'playbooks_dir = "{tmp_path / "playbooks"}"\n'
        f'[response.webhooks.hook]\nurl = "{url}"\nsecret = "k"\n'
    )
    return path


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "playbooks", *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cfg.parent,
    )


def show(cfg: Path, run_id: str) -> dict[str, Any]:
    done = cli(cfg, "show", run_id, "--json")
    assert done.returncode == 0, done.stderr
    detail: dict[str, Any] = json.loads(done.stdout)
    return detail


def test_killed_engine_resumes_without_repeating_a_step(tmp_path: Path, hook: str) -> None:
    cfg = config(tmp_path, hook)
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "playbooks",
            "run",
            "slow",
            "--actor",
            "rita",
            "--role",
            "responder",
            "--config",
            str(cfg),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        assert Hook.arrived.wait(60), "the run never reached its second step"
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(10)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(10)
    Hook.release.set()
    [run] = json.loads(cli(cfg, "runs", "--json").stdout)
    assert run["state"] == "running"  # as the dead engine left it

    resumed = cli(cfg, "engine", "--once")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed 1 run(s)" in resumed.stdout
    detail = show(cfg, run["id"])
    assert detail["state"] == "needs_attention"
    assert {s["key"]: s["state"] for s in detail["steps"]} == {
        "first": "succeeded",
        "hang": "unknown",
    }
    assert "hang was running when the engine stopped" in detail["reason"]
    assert Hook.counts == Counter({1: 1, 2: 1})  # nothing repeated, nothing further done

    # A person checked the receiver and asks for the step again; the engine finishes the run.
    retried = cli(cfg, "retry", run["id"], "hang", "--actor", "rita", "--role", "responder")
    assert retried.returncode == 0, retried.stderr
    assert cli(cfg, "engine", "--once").returncode == 0
    detail = show(cfg, run["id"])
    assert detail["state"] == "succeeded", detail["reason"]
    assert Hook.counts == Counter({1: 1, 2: 2, 3: 1})
    steps = {s["key"]: s for s in detail["steps"]}
    assert steps["first"]["attempts"] == 1 and steps["hang"]["attempts"] == 2
    assert steps["last"]["attempts"] == 1

    # The service database's audit log has the story, with who did what.
    import sqlite3

    db = sqlite3.connect(tmp_path / "service.db")
    try:
        rows = db.execute(
            "SELECT actor, action FROM audit_log WHERE object_id = ? ORDER BY seq", (run["id"],)
        ).fetchall()
    finally:
        db.close()
    assert ("rita", "playbook.run.start") in rows
    assert ("engine", "playbook.step.unknown") in rows
    assert ("rita", "playbook.step.retry_requested") in rows
    assert rows[-1] == ("engine", "playbook.run.finish")


QUICK = """\
id: quick
name: a webhook, a pause, a webhook
steps:
  - id: first
    action: notify.webhook
    with: {target: hook, payload: {n: 1}}
  - id: pause
    action: wait
    timeout: 30
    with: {seconds: 2}
  - id: last
    action: notify.webhook
    with: {target: hook, payload: {n: 3}}
"""


def test_killed_during_an_idempotent_step_the_run_finishes_by_itself(
    tmp_path: Path, hook: str
) -> None:
    import sqlite3
    import time

    cfg = config(tmp_path, hook)
    (tmp_path / "playbooks" / "quick.yaml").write_text(QUICK)
    engine = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "playbooks", "run", "quick", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        started = None
        while started is None and time.monotonic() < deadline:
            if (tmp_path / "response.db").exists():
                db = sqlite3.connect(tmp_path / "response.db", timeout=10)
                try:
                    started = db.execute(
                        "SELECT 1 FROM steps WHERE key = 'pause' AND state = 'started'"
                    ).fetchone()
                except sqlite3.OperationalError:
                    pass  # the engine is still making its tables
                finally:
                    db.close()
            time.sleep(0.05)
        assert started is not None, "the run never reached its pause"
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(10)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait(10)
    resumed = cli(cfg, "engine", "--once")
    assert "resumed 1 run(s)" in resumed.stdout, resumed.stderr
    [run] = json.loads(cli(cfg, "runs", "--json").stdout)
    detail = show(cfg, run["id"])
    assert detail["state"] == "succeeded", detail["reason"]
    assert {s["key"]: s["attempts"] for s in detail["steps"]} == {"first": 1, "pause": 2, "last": 1}
    assert Hook.counts == Counter({1: 1, 3: 1})


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    cfg = config(tmp_path, "http://127.0.0.1:9/")
    bad = tmp_path / "playbooks" / "bad.yaml"
    bad.write_text(
        "id: bad\nname: x\nsteps:\n  - id: a\n    action: firewall.block_ip\n"
        "    with: {address: 1.2.3.4}\n  - id: b\n    action: dns.nope\n"
    )
    done = cli(cfg, "validate")
    assert done.returncode == 1
    assert f"{bad}:6: step a: firewall.block_ip has no parameter 'address'" in done.stderr
    assert f"{bad}:6: step a: firewall.block_ip needs parameter 'ip'" in done.stderr
    assert f"{bad}:8: step b: unknown action 'dns.nope'" in done.stderr
    assert "1 playbook(s) valid, 3 problem(s)" in done.stdout


def test_analyze_queues_the_runs_its_alerts_trigger(tmp_path: Path) -> None:
    from scapy.utils import wrpcap

    from tests.api.conftest import attack_packets

    capture = tmp_path / "attacks.pcap"
    wrpcap(str(capture), attack_packets())
    cfg = tmp_path / "cityshield.toml"
    cfg.write_text(
        f'[store.sqlite]\npath = "{tmp_path / "alerts.db"}"\n'
        f'[api]\nservice_db = "{tmp_path / "service.db"}"\n'
        f'[response]\ndb = "{tmp_path / "response.db"}"\n'
    )
    assert cli(cfg, "runs").returncode == 0  # this city uses playbooks: the databases exist
    analyzed = subprocess.run(
        [sys.executable, "-m", "api.cli", "analyze", str(capture), "--config", str(cfg), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert analyzed.returncode == 0, analyzed.stderr
    runs = json.loads(cli(cfg, "runs", "--json").stdout)
    found = sorted((r["playbook_id"], r["started_by"], r["state"]) for r in runs)
    assert ("scan-from-abroad", "trigger:port_scan.vertical", "queued") in found
    assert ("compromised-account", "trigger:brute_force.ssh", "queued") in found
    # Analysing the same capture again refreshes the same alerts: no second run for them.
    again = subprocess.run(
        [sys.executable, "-m", "api.cli", "analyze", str(capture), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert again.returncode == 0
    assert len(json.loads(cli(cfg, "runs", "--json").stdout)) == len(runs)

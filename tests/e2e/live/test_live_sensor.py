"""A live sensor on a veth pair between two network namespaces: real HTTP (curl), a port scan
and failed SSH-like logins, captured by ``cityshield sensor run``, detected on the sensor and
shipped to ``cityshield serve``, which is stopped mid-run and started again. Then: every alert
and flow arrived exactly once, and the packets of the scan's alert, downloaded through the API,
open in tshark and are that scan's packets."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sensors.sources import open_capture
from tests.e2e.live.netlab import Lab, unavailable, veth_lab

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PORT = 8719
SENSOR = "tap-test"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    why = unavailable()
    if why:
        pytest.skip(why)
    pytest.importorskip("pcapy", reason="live capture needs pcapy-ng")
    with veth_lab() as lab:
        yield lab


def config(tmp: Path) -> str:
    return f"""
log_level = "INFO"
[sensor]
name = "{SENSOR}"
[store.sqlite]
path = "{tmp}/alerts.db"
[api]
service_db = "{tmp}/service.db"
heartbeat_seconds = 1
argon2_time_cost = 1
argon2_memory_kib = 8192
argon2_parallelism = 1
bootstrap_admin = "root"
bootstrap_admin_password = "a root password for tests"
[agent]
central_url = "http://127.0.0.1:{PORT}"
token_file = "{tmp}/sensor.token"
spool_dir = "{tmp}/spool"
state_dir = "{tmp}/state"
spool_fsync = "segment"
batch_max_seconds = 0.3
heartbeat_seconds = 0.5
max_backoff_seconds = 0.5
evidence_margin_seconds = 0.5
[agent.evidence]
dir = "{tmp}/evidence"
"""


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Proc:
    def __init__(self, lab: Lab, tmp: Path, name: str, *args: str) -> None:
        self.log = tmp / f"{name}.log"
        env = {**os.environ, "CITYSHIELD_CONFIG": str(tmp / "cityshield.toml")}
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                lab.cmd(lab.server_ns, sys.executable, "-m", "api.cli", *args),
                cwd=tmp, stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"did not stop: {self.log.read_text()[-3000:]}") from None


@contextmanager
def central(lab: Lab, tmp: Path) -> Iterator[Proc]:
    proc = Proc(lab, tmp, "serve", "serve", "--port", str(PORT))
    try:
        wait_for("the central service", lambda: _get(lab, "/healthz") is not None)
        yield proc
    finally:
        proc.stop(signal.SIGINT)


def _get(lab: Lab, path: str, token: str | None = None) -> httpx.Response | None:
    # The service listens on the server namespace's loopback: ask from inside it.
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{PORT}{path}"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    done = subprocess.run(lab.cmd(lab.server_ns, *args), capture_output=True, timeout=30,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        return None
    body, _, code = done.stdout.rpartition(b"\n")
    return httpx.Response(int(code), content=body)


def status(tmp: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = orjson.loads((tmp / "state" / "status.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data


def test_live_sensor_detects_ships_through_an_outage_and_serves_packets(
    lab: Lab, tmp_path: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl (apt-get install curl)")
    (tmp_path / "cityshield.toml").write_text(config(tmp_path))
    servers = [
        subprocess.Popen(lab.traffic(lab.server_ns, "http-server", lab.server_ip, "8080"),
                         cwd=tmp_path),
        subprocess.Popen(lab.traffic(lab.server_ns, "ssh-server", lab.server_ip, "22")),
    ]  # fmt: skip
    sensor: Proc | None = None
    try:
        with central(lab, tmp_path):
            admin = _admin_token(lab, tmp_path)
            enrol = subprocess.run(
                lab.cmd(lab.server_ns, sys.executable, "-m", "api.cli", "sensor", "enrol",
                        "--admin-token", admin),
                cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
                env={**os.environ, "CITYSHIELD_CONFIG": str(tmp_path / "cityshield.toml")},
            )  # fmt: skip
            assert enrol.returncode == 0, enrol.stderr
            sensor = Proc(lab, tmp_path, "sensor", "sensor", "run", "-i", lab.server_if,
                          "--bpf", f"host {lab.server_ip}")  # fmt: skip
            wait_for("the sensor", lambda: status(tmp_path).get("central_reachable"))
            for _ in range(5):
                lab.run(lab.client_ns, "curl", "-sf", "-o", "/dev/null",
                        f"http://{lab.server_ip}:8080/cityshield.toml")  # fmt: skip
            lab.run(*_traffic(lab, "ssh-logins", lab.server_ip, "22", "25"))
            wait_for("the SSH alert at the central service",
                     lambda: "brute_force.ssh" in _rules(lab, admin))  # fmt: skip
        # The central service is down: the scan's alert waits in the sensor's spool.
        lab.run(*_traffic(lab, "scan", lab.server_ip, "1000", "1100"))
        wait_for("batches in the spool", lambda: status(tmp_path).get("spool_batches", 0) > 0)
        wait_for("the sensor to notice", lambda: status(tmp_path).get("central_reachable") is False)
        with central(lab, tmp_path):
            wait_for("the spool to drain", lambda: status(tmp_path).get("spool_batches") == 0
                     and status(tmp_path).get("central_reachable"))  # fmt: skip
            rules = wait_for("the scan alert", lambda: (r := _rules(lab, admin))
                             and "port_scan.vertical" in r and r)  # fmt: skip
            assert rules["brute_force.ssh"] == 1 and rules["port_scan.vertical"] == 1
            scan = _alert(lab, admin, "port_scan.vertical")
            pcap = wait_for("the scan's packets",
                            lambda: (r := _get(lab, f"/api/v1/alerts/{scan['id']}/packets", admin))
                            and r.status_code == 200 and r)  # fmt: skip
            _check_pcap(pcap.content, tmp_path, lab)
            shown = cli(lab, tmp_path, "sensor", "status", "--json")
            assert shown.returncode == 0, shown.stderr
            now = orjson.loads(shown.stdout)
            assert now["running"] and now["packets"] > 0 and now["spool_batches"] == 0
            assert now["kernel_dropped"] == now["ring_dropped"] == 0
            if shutil.which("tshark") is not None:
                seen = cli(lab, tmp_path, "dissect", scan["id"], "--count", "2", "--central",
                           f"http://127.0.0.1:{PORT}", token=admin)  # fmt: skip
                assert seen.returncode == 0, seen.stderr
                assert "Transmission Control Protocol" in seen.stdout
                assert f"Src: {lab.client_ip}" in seen.stdout
            assert sensor.stop() == 0, sensor.log.read_text()[-3000:]
            final = status(tmp_path)
            fleet = _get(lab, "/api/v1/sensors", admin)
            assert fleet is not None and fleet.status_code == 200
            [entry] = fleet.json()["sensors"]
            assert entry["stats"]["packets_received"] > 0
        _exactly_once(tmp_path, final)
    finally:
        if sensor is not None:
            sensor.stop()
        for p in servers:
            p.terminate()
            p.wait(timeout=10)


def cli(lab: Lab, tmp: Path, *args: str, token: str | None = None
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "CITYSHIELD_CONFIG": str(tmp / "cityshield.toml"), "COLUMNS": "200"}
    if token:
        env["CITYSHIELD_TOKEN"] = token
    return subprocess.run(
        lab.cmd(lab.server_ns, sys.executable, "-m", "api.cli", *args),
        cwd=tmp, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def _traffic(lab: Lab, *args: str) -> list[str]:
    cmd = lab.traffic(lab.client_ns, *args)
    return [lab.client_ns, *cmd[4:]]  # Lab.run adds `ip netns exec NS`


def _admin_token(lab: Lab, tmp: Path) -> str:
    done = subprocess.run(
        lab.cmd(lab.server_ns, "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json",
                "-d", '{"username": "root", "password": "a root password for tests"}',
                f"http://127.0.0.1:{PORT}/api/v1/auth/login"),
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return str(orjson.loads(done.stdout)["token"])


def _alerts(lab: Lab, token: str) -> list[dict[str, Any]]:
    r = _get(lab, "/api/v1/alerts?limit=100", token)
    if r is None or r.status_code != 200:
        return []
    body = r.json()
    return list(body["items"] if isinstance(body, dict) else body)


def _rules(lab: Lab, token: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in _alerts(lab, token):
        out[a["rule"]["id"]] = out.get(a["rule"]["id"], 0) + 1
    return out


def _alert(lab: Lab, token: str, rule: str) -> dict[str, Any]:
    [alert] = [a for a in _alerts(lab, token) if a["rule"]["id"] == rule]
    return alert


def _check_pcap(pcap: bytes, tmp: Path, lab: Lab) -> None:
    path = tmp / "scan.pcap"
    path.write_bytes(pcap)
    if shutil.which("tshark") is None:  # .ci/setup installs it as root; check with our reader
        reader = open_capture(path)
        assert sum(len(b) for b in reader.batches()) > 0
        reader.close()
        return
    fields = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "ip.src", "-e", "tcp.dstport",
         "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    sources, ports = set(fields[0::2]), {int(p) for p in fields[1::2]}
    assert sources == {lab.client_ip}
    assert ports and ports <= set(range(1000, 1101))


def _exactly_once(tmp: Path, final: dict[str, Any]) -> None:
    """Every batch the sensor made was stored once: as many batch ids as the spool gave out,
    and the store holds exactly the flows the sensor ended."""
    with sqlite3.connect(tmp / "service.db") as db:
        batches = db.execute("SELECT batch_id FROM ingest_batches").fetchall()
    ids = [b[0] for b in batches]
    assert len(ids) == len(set(ids)) == final["batches_sent"] + final["batches_duplicate"]
    seqs = sorted(int(i.rsplit("/", 1)[1]) for i in ids)
    assert seqs == list(range(1, len(seqs) + 1))  # none lost in between
    assert final["batches_rejected"] == 0 and final["spool_batches"] == 0
    with sqlite3.connect(tmp / "alerts.db") as db:
        flows = db.execute("SELECT COUNT(*) FROM flows").fetchone()[0]
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM records GROUP BY kind").fetchall())
    assert flows == final["flows_ended"]
    # The curl requests and the SSH-like sessions arrived as protocol records, each once.
    assert kinds.get("http") == 5 and kinds.get("ssh") == 25

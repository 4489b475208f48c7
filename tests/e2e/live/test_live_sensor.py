"""A live sensor on a veth pair between two network namespaces: real HTTP (curl), a port scan
and failed SSH-like logins, captured by ``cityshield sensor run``, detected on the sensor and
shipped to ``cityshield serve``, which is stopped mid-run and started again. Then: every alert
and flow arrived exactly once, and the packets of the scan's alert, downloaded through the API,
open in tshark and are that scan's packets."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sensors.sources import open_capture
from tests.e2e.live.netlab import Lab, unavailable, veth_lab
from tests.e2e.live.sensorkit import (
    PORT,
    Proc,
    admin_token,
    api_get,
    central,
    cli,
    config,
    one_alert,
    rules,
    status,
    traffic,
    wait_for,
)  # fmt: skip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    why = unavailable()
    if why:
        pytest.skip(why)
    pytest.importorskip("pcapy", reason="live capture needs pcapy-ng")
    with veth_lab() as lab:
        yield lab


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
            admin = admin_token(lab, tmp_path)
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
            lab.run(*traffic(lab, "ssh-logins", lab.server_ip, "22", "25"))
            wait_for("the SSH alert at the central service",
                     lambda: "brute_force.ssh" in rules(lab, admin))  # fmt: skip
        # The central service is down: the scan's alert waits in the sensor's spool.
        lab.run(*traffic(lab, "scan", lab.server_ip, "1000", "1100"))
        wait_for("batches in the spool", lambda: status(tmp_path).get("spool_batches", 0) > 0)
        wait_for("the sensor to notice", lambda: status(tmp_path).get("central_reachable") is False)
        with central(lab, tmp_path):
            wait_for("the spool to drain", lambda: status(tmp_path).get("spool_batches") == 0
                     and status(tmp_path).get("central_reachable"))  # fmt: skip
            by_rule = wait_for("the scan alert", lambda: (r := rules(lab, admin))
                             and "port_scan.vertical" in r and r)  # fmt: skip
            assert by_rule["brute_force.ssh"] == 1 and by_rule["port_scan.vertical"] == 1
            scan = one_alert(lab, admin, "port_scan.vertical")
            url = f"/api/v1/alerts/{scan['id']}/packets"
            pcap = wait_for("the scan's packets", lambda: (r := api_get(lab, url, admin))
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
            fleet = api_get(lab, "/api/v1/sensors", admin)
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

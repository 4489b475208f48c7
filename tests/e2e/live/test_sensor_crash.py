"""A sensor killed with SIGKILL while the central service is down keeps what it had spooled: the
next sensor process sends it, in order, with the sequence numbers going on, and the central
service stores every batch once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.live.netlab import Lab, unavailable, veth_lab
from tests.e2e.live.sensorkit import (
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


def test_a_killed_sensor_loses_nothing_it_spooled(lab: Lab, tmp_path: Path) -> None:
    (tmp_path / "cityshield.toml").write_text(config(tmp_path))
    ssh = subprocess.Popen(lab.traffic(lab.server_ns, "ssh-server", lab.server_ip, "22"))
    sensors: list[Proc] = []
    try:
        with central(lab, tmp_path):
            admin = admin_token(lab, tmp_path)
            assert cli(lab, tmp_path, "sensor", "enrol", "--admin-token", admin).returncode == 0
            sensors.append(Proc(lab, tmp_path, "sensor", "sensor", "run", "-i", lab.server_if))
            wait_for("the sensor", lambda: status(tmp_path).get("central_reachable"))
        # Central service down: the scan and the logins are detected and spooled, then the
        # sensor dies without a chance to flush anything.
        lab.run(*traffic(lab, "scan", lab.server_ip, "2000", "2060"))
        lab.run(*traffic(lab, "ssh-logins", lab.server_ip, "22", "20"))
        wait_for("alerts in the spool", lambda: status(tmp_path).get("alerts", 0) >= 2
                 and status(tmp_path).get("spool_batches", 0) > 0)  # fmt: skip
        spooled = status(tmp_path)["spool_batches"]
        sensors[0].stop(signal.SIGKILL)
        sensors.append(Proc(lab, tmp_path, "sensor2", "sensor", "run", "-i", lab.server_if))
        wait_for("the new sensor", lambda: status(tmp_path).get("pid") == sensors[1].proc.pid)
        assert status(tmp_path)["spool_batches"] >= spooled  # replayed from disk, not lost
        with central(lab, tmp_path):
            wait_for("the spool to drain", lambda: status(tmp_path).get("spool_batches") == 0)
            both = {"port_scan.vertical", "brute_force.ssh"}
            by_rule = wait_for("both alerts", lambda: (r := rules(lab, admin))
                               and both <= set(r) and r)  # fmt: skip
            assert by_rule["port_scan.vertical"] == 1 and by_rule["brute_force.ssh"] == 1
            # The killed process's pending evidence upload was on disk too: the packets come.
            scan = one_alert(lab, admin, "port_scan.vertical")
            url = f"/api/v1/alerts/{scan['id']}/packets"
            wait_for("the scan's packets", lambda: (r := api_get(lab, url, admin))
                     and r.status_code == 200)  # fmt: skip
            assert sensors[1].stop() == 0
    finally:
        for s in sensors:
            s.stop(signal.SIGKILL)
        ssh.terminate()
        ssh.wait(timeout=10)
    with sqlite3.connect(tmp_path / "service.db") as db:
        ids = [r[0] for r in db.execute("SELECT batch_id FROM ingest_batches")]
    epochs = {i.split("/")[1] for i in ids}
    seqs = sorted(int(i.rsplit("/", 1)[1]) for i in ids)
    assert len(epochs) == 1  # one spool across both processes
    assert seqs == list(range(1, len(seqs) + 1))  # none lost, none twice
    acked = int((tmp_path / "spool" / "acked").read_text())
    assert acked == len(seqs) and not list((tmp_path / "spool").glob("rejected/*"))

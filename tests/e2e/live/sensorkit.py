"""What the live-sensor e2e tests share: settings, processes in the server namespace, the
central service's API asked from inside it, and the sensor's status file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.e2e.live.netlab import Lab

PORT = 8719
SENSOR = "tap-test"


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
        wait_for("the central service", lambda: api_get(lab, "/healthz") is not None)
        yield proc
    finally:
        proc.stop(signal.SIGINT)


def api_get(lab: Lab, path: str, token: str | None = None) -> httpx.Response | None:
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


def cli(lab: Lab, tmp: Path, *args: str, token: str | None = None
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "CITYSHIELD_CONFIG": str(tmp / "cityshield.toml"), "COLUMNS": "200"}
    if token:
        env["CITYSHIELD_TOKEN"] = token
    return subprocess.run(
        lab.cmd(lab.server_ns, sys.executable, "-m", "api.cli", *args),
        cwd=tmp, capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def traffic(lab: Lab, *args: str) -> list[str]:
    cmd = lab.traffic(lab.client_ns, *args)
    return [lab.client_ns, *cmd[4:]]  # Lab.run adds `ip netns exec NS`


def admin_token(lab: Lab, tmp: Path) -> str:
    done = subprocess.run(
        lab.cmd(lab.server_ns, "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json",
                "-d", '{"username": "root", "password": "a root password for tests"}',
                f"http://127.0.0.1:{PORT}/api/v1/auth/login"),
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return str(orjson.loads(done.stdout)["token"])


def alerts(lab: Lab, token: str) -> list[dict[str, Any]]:
    r = api_get(lab, "/api/v1/alerts?limit=100", token)
    if r is None or r.status_code != 200:
        return []
    body = r.json()
    return list(body["items"] if isinstance(body, dict) else body)


def rules(lab: Lab, token: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in alerts(lab, token):
        out[a["rule"]["id"]] = out.get(a["rule"]["id"], 0) + 1
    return out


def one_alert(lab: Lab, token: str, rule: str) -> dict[str, Any]:
    [alert] = [a for a in alerts(lab, token) if a["rule"]["id"] == rule]
    return alert

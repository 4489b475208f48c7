"""HTTP API latency: alert search with a million stored alerts at 50 concurrent clients.

    .venv/bin/python -m bench.api                        # 1,000,000 alerts, 50 clients, 20 s
    .venv/bin/python -m bench.api --alerts 100000 --duration 5 --out -    # a quick look

``cityshield serve`` runs as its own process on a loopback port (SQLite store, uvicorn with 1 and
then 2 workers); the load comes from a second process (``bench/api_load.py``: closed-loop httpx
clients, each sending its next search when the last one is answered). Searches use the store's
filters (newest, open, one rule, critical only, a /24, the second page by cursor), mixed evenly;
a text search (``LIKE`` over messages) and a one-day time window are measured on their own (the
window with 5 clients). Latency is from sending a request to having read its answer, as the
client sees it. The store is built once from deterministic synthetic alerts and cached in
``bench/work/api/``. Results go to the
``## API`` section of ``bench/RESULTS.md`` (between its markers; the rest is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from alerts.model import Alert, Endpoint, RuleRef, Severity, Triage, TriageStatus
from alerts.stores import AlertQuery, SqliteAlertStore
from api.app.audit.log import AuditLog
from api.app.auth.hashing import SecretHasher
from api.app.auth.principal import CLI
from api.app.auth.roles import Role
from api.app.auth.service import AuthService
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase
from bench import machine
from cityshield.clock import SystemClock

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work" / "api"
RESULTS = ROOT / "bench" / "RESULTS.md"
START = "<!-- api:start (bench/api.py; not written by bench.run) -->"
END = "<!-- api:end -->"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SEVERITIES = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def synthetic_alerts(n: int, batch: int, seed: int = 6) -> Iterator[list[Alert]]:
    """Deterministic alerts: 40 rules (a few common), sources in a /16, 30 days, a tenth triaged."""
    rng = random.Random(seed)
    out: list[Alert] = []
    for i in range(n):
        first = T0 + timedelta(seconds=rng.randrange(30 * 86400))
        rule = f"rule_{min(39, int(rng.paretovariate(1.0)) - 1):02}"
        src = f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        severity = SEVERITIES[min(3, int(rng.expovariate(1.2)))]
        triage = Triage()
        if rng.random() < 0.1:
            triage = Triage(status=TriageStatus.ACKNOWLEDGED, assignee="ana", updated_at=first)
        out.append(
            Alert(
                id=f"a{i:08}",
                rule=RuleRef(id=rule, name=rule.replace("_", " ")),
                severity=severity,
                risk_score=severity.risk_score,
                message=f"{rule} from {src}",
                source=Endpoint(ip=src),
                destination=Endpoint(ip=f"198.51.100.{rng.randrange(1, 60)}", port=443),
                observer=f"tap-{rng.randrange(4)}",
                count=min(10**6, int(rng.paretovariate(1.2))),
                first_seen=first,
                last_seen=first + timedelta(seconds=rng.randrange(3600)),
                triage=triage,
            )
        )
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def build_store(n: int) -> Path:
    path = WORK / f"alerts-{n}.db"
    if path.is_file():
        with SqliteAlertStore(path) as store:
            if store.count_alerts(AlertQuery()) == n:
                return path
        path.unlink()
    print(f"building {path.name}: {n:,} alerts (once; cached) ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with SqliteAlertStore(path) as store:
        for chunk in synthetic_alerts(n, 20_000):
            store.upsert_alerts(chunk)
    # Planner statistics, as a store that has run for a while has them (the store runs
    # ``PRAGMA optimize`` when it closes). Without them a one-day window took seconds a query.
    with closing(sqlite3.connect(path)) as db:
        db.execute("ANALYZE")
    print(f"  {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def bench_token(service_db: Path) -> str:
    """A fresh service database with one analyst and an API token for the load generator."""
    service_db.unlink(missing_ok=True)
    settings = ApiSettings(service_db=str(service_db))
    db = ServiceDatabase(str(service_db))
    clock = SystemClock()
    auth = AuthService(db, AuditLog(db, clock), SecretHasher(), clock, settings)
    auth.add_user(CLI, "bench", Role.ANALYST, "a bench password")
    token = auth.create_token_for(CLI, "bench", "bench", 1).token
    db.close()
    return token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def serve(store: Path, service_db: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    config = WORK / "cityshield.toml"
    config.write_text(
        f'log_level = "WARNING"\n[store.sqlite]\npath = "{store}"\n'
        f'[api]\nservice_db = "{service_db}"\n'
    )
    port = free_port()
    env = {**os.environ, "CITYSHIELD_CONFIG": str(config)}
    argv = [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError("serve did not become ready")


def load(url: str, token: str, clients: int, duration: float, kinds: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.api_load", url, "--clients", str(clients),
            "--duration", str(duration), "--kinds", kinds]  # fmt: skip
    env = {**os.environ, "CITYSHIELD_BENCH_TOKEN": token}
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    everything = [v for vs in result["latencies"].values() for v in vs]
    per_kind = {
        k: {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99)}
        for k, v in sorted(result["latencies"].items())
        if len(v) >= 2
    }
    return {
        "requests": len(everything),
        "errors": sum(result["errors"].values()),
        "rps": len(everything) / result["wall_s"],
        "p50": percentile(everything, 50),
        "p90": percentile(everything, 90),
        "p99": percentile(everything, 99),
        "max": max(everything),
        "client_cpu": result["client_cpu_s"] / result["wall_s"],
        "kinds": per_kind,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n")[0])
    p.add_argument("--alerts", type=int, default=1_000_000)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    p.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure")
    p.add_argument("--out", default=str(RESULTS), help="report file, or - for stdout only")
    a = p.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    info = machine.describe()
    load_before = machine.load_average()
    store = build_store(a.alerts)
    service_db = WORK / "service.db"
    token = bench_token(service_db)
    mix = "newest,open,rule,severity,cidr,page2"
    rows_to_run = (
        ("indexed filters", mix, a.clients),
        ("text search", "text", a.clients),
        ("time window", "window", 5),
    )
    rows: list[tuple[str, int, dict[str, Any]]] = []
    for workers in (int(w) for w in a.workers.split(",")):
        proc, url = serve(store, service_db, workers)
        try:
            load(url, token, a.clients, 3, mix)  # warm-up: caches, token check, connections
            for label, kinds, clients in rows_to_run:
                result = summarise(load(url, token, clients, a.duration, kinds))
                result["clients"] = clients
                rows.append((label, workers, result))
                print(f"{label}, {workers} worker(s): p99 {result['p99'] * 1000:.0f} ms, "
                      f"{result['rps']:.0f} req/s", file=sys.stderr)  # fmt: skip
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = section(rows, a, info, load_before, machine.load_average())
    print(text)
    if a.out != "-":
        write_section(Path(a.out), text)
    return 0


def section(
    rows: list[tuple[str, int, dict[str, Any]]],
    a: argparse.Namespace,
    info: dict[str, str],
    load_before: str,
    load_after: str,
) -> str:
    ms = 1000
    lines = [
        START,
        "## API",
        "",
        f"Generated by `python -m bench.api` on {info.get('date', '?')}: alert search through "
        f"`cityshield serve` (SQLite store of {a.alerts:,} alerts) with {a.clients} concurrent "
        f"clients for {a.duration:g} s per row, load generated by a second process "
        "(`bench/api_load.py`, closed-loop httpx clients on the same machine). Latency is "
        "request sent to answer read, as the client sees it; ms. With closed-loop clients the "
        "latency is about clients / throughput: the p99 follows from the req/s the server "
        "sustains, here one SQLite connection behind the store's lock per worker.",
        "",
        "| search | workers | clients | requests | req/s | p50 | p90 | p99 | max | errors | "
        "client CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, workers, r in rows:
        lines.append(
            f"| {label} | {workers} | {r['clients']} | {r['requests']:,} | {r['rps']:.0f} | "
            f"{r['p50'] * ms:.1f} | {r['p90'] * ms:.1f} | **{r['p99'] * ms:.1f}** | "
            f"{r['max'] * ms:.0f} | "
            f"{r['errors']} | {r['client_cpu']:.0%} |"
        )
    lines += ["", "Per query kind (p50 / p99, ms):", ""]
    for label, workers, r in rows:
        kinds = ", ".join(
            f"{k} {v['p50'] * ms:.0f}/{v['p99'] * ms:.0f}" for k, v in r["kinds"].items()
        )
        lines.append(f"* {label}, {workers} worker(s): {kinds}")
    lines += [
        "",
        f"Machine: {info.get('cpu', '?')}, {info.get('cores', '?')}, {info.get('ram', '?')}, "
        f"Python {info.get('python', '?')}, CityShield {info.get('cityshield', '?')}. Load average "
        f"before / after: {load_before} / {load_after} (the machine is shared with other "
        "engineers' processes; the server, the load generator and they share its cores).",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START in current and END in current:
        head, rest = current.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        current = head + text + ("\n" + tail if tail else "")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    path.write_text(current, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())

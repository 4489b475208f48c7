"""Alert stores side by side: alerts per second into each store, then query latency (p50/p95) on
everything stored, in the same run.

    .venv/bin/python -m bench.stores                     # 1,000,000 alerts into each store
    .venv/bin/python -m bench.stores --alerts 100000 --out -
    .venv/bin/python -m bench.stores --stores sqlite     # one store only
    CITYSHIELD_ES_URL=http://es:9200 .venv/bin/python -m bench.stores   # a real cluster

Alerts are synthetic and deterministic (seeded): 40 rules, sources in a /16 and a few IPv6
hosts, 30 days of first_seen, counts from a Zipf law, a tenth of them triaged. They are built
before the clock starts; only the store's ``upsert_alerts`` calls are timed, in batches of
``--batch`` as a sensor's pipeline sends them. Without ``CITYSHIELD_ES_URL`` the Elasticsearch
store runs against osmem-server (an in-memory Elasticsearch-compatible test server from PyPI,
started here as a real process), whose speed says little about a real cluster's: the figure
measures our client-side cost plus that server. The results go to the ``## Stores`` section of
``bench/RESULTS.md`` (between its markers; the rest of the file is left alone).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alerts.model import Alert, Endpoint, RuleRef, Severity, Triage, TriageStatus
from alerts.stores import AlertQuery, AlertStore, SqliteAlertStore
from alerts.stores.elasticsearch import ElasticsearchAlertStore
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings, build_client
from bench import machine

RESULTS = Path(__file__).with_name("RESULTS.md")
START = "<!-- stores:start (bench/stores.py; not written by bench.run) -->"
END = "<!-- stores:end -->"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
RULES = [f"rule_{i:02}" for i in range(40)]
SEVERITIES = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def synthetic_alerts(n: int, batch: int, seed: int = 5) -> Iterator[list[Alert]]:
    rng = random.Random(seed)
    out: list[Alert] = []
    for i in range(n):
        first = T0 + timedelta(seconds=rng.randrange(30 * 86400))
        v6 = rng.random() < 0.05
        src = (
            f"2001:db8::{rng.randrange(1, 500):x}"
            if v6
            else f"10.20.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        )
        severity = SEVERITIES[min(3, int(rng.expovariate(1.2)))]
        triage = Triage()
        if rng.random() < 0.1:
            triage = Triage(status=TriageStatus.ACKNOWLEDGED, assignee="ana", updated_at=first)
        out.append(
            Alert(
                id=f"a{i:08}",
                rule=RuleRef(
                    id=(rule := RULES[min(39, int(rng.paretovariate(1.0)) - 1)]),
                    name=rule.replace("_", " "),
                ),
                severity=severity,
                risk_score=severity.risk_score,
                message=f"{rule} from {src}",
                source=Endpoint(ip=src),
                destination=Endpoint(
                    ip=f"198.51.100.{rng.randrange(1, 60)}", port=rng.choice([22, 80, 443, 3389])
                ),
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


def queries(rng: random.Random) -> dict[str, Callable[[AlertStore], Any]]:
    """The questions a console asks, each with a parameter drawn per run."""

    def one_day() -> AlertQuery:
        start = T0 + timedelta(days=rng.randrange(29))
        return AlertQuery(start=start, end=start + timedelta(days=1), limit=50)

    def high_in_one_day(s: AlertStore) -> Any:
        return s.query_alerts(one_day().model_copy(update={"min_severity": Severity.HIGH}))

    return {
        "newest page (50)": lambda s: s.query_alerts(AlertQuery(limit=50)),
        "high+ in one day": high_in_one_day,
        "by rule": lambda s: s.query_alerts(AlertQuery(rule_ids=[rng.choice(RULES)], limit=50)),
        "by source /24": lambda s: s.query_alerts(
            AlertQuery(ip=f"10.20.{rng.randrange(256)}.0/24", limit=50)
        ),
        "open, text": lambda s: s.query_alerts(
            AlertQuery(statuses=[TriageStatus.OPEN], text=rng.choice(RULES[:5]), limit=50)
        ),
        "page 20 (search_after)": lambda s: _deep_page(s, 20),
        "count, acknowledged": lambda s: s.count_alerts(
            AlertQuery(statuses=[TriageStatus.ACKNOWLEDGED])
        ),
        "top sources (one day)": lambda s: s.aggregate_alerts(one_day(), "source", size=10),
        "by rule (all)": lambda s: s.aggregate_alerts(AlertQuery(), "rule", size=40),
        "hourly, one week": lambda s: s.aggregate_alerts(
            AlertQuery(start=T0 + timedelta(days=7), end=T0 + timedelta(days=14)),
            "time",
            interval=timedelta(hours=1),
        ),
    }


def _deep_page(store: AlertStore, pages: int) -> None:
    cursor = None
    for _ in range(pages):
        page = store.query_alerts(AlertQuery(limit=50, cursor=cursor))
        cursor = page.next_cursor


def ingest(store: AlertStore, n: int, batch: int) -> tuple[int, float]:
    stored = 0
    elapsed = 0.0
    for alerts in synthetic_alerts(n, batch):
        started = time.perf_counter()
        store.upsert_alerts(alerts)
        elapsed += time.perf_counter() - started
        stored += len(alerts)
        if stored % (batch * 50) == 0:
            print(f"  {stored:,} alerts, {stored / elapsed:,.0f}/s", file=sys.stderr)
    return stored, elapsed


def latencies(store: AlertStore, runs: int) -> dict[str, list[float]]:
    rng = random.Random(11)
    found: dict[str, list[float]] = {}
    for name, run in queries(rng).items():
        run(store)  # warm caches once; the runs that count come after
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            run(store)
            times.append(time.perf_counter() - started)
        found[name] = times
    return found


def p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    )


class _PlainJsonNode:
    """osmem-server refuses the 9.x client's compatibility media type (406); benchmark-only, as in
    tests/e2e/elasticsearch/esserver.py: send plain application/json."""

    @staticmethod
    def make() -> type:
        from elastic_transport import Urllib3HttpNode

        class Node(Urllib3HttpNode):
            def perform_request(
                self,
                method: str,
                target: str,
                body: Any = None,
                headers: Any = None,
                request_timeout: Any = None,
            ) -> Any:  # type: ignore[override]
                if headers is not None:
                    headers = headers.copy()
                    for name in ("accept", "content-type"):
                        value = headers.get(name)
                        if value and "vnd.elasticsearch+" in value:
                            headers[name] = value.replace("vnd.elasticsearch+", "").split(";")[0]
                return super().perform_request(
                    method, target, body=body, headers=headers, request_timeout=request_timeout
                )

        return Node


def open_es(work: Path) -> tuple[ElasticsearchAlertStore, Callable[[], None], str]:
    url = os.environ.get("CITYSHIELD_ES_URL")
    server = None
    extra: dict[str, Any] = {}
    if url:
        where = f"Elasticsearch at CITYSHIELD_ES_URL ({url})"
    else:
        from osmem_server import OsmemServer

        server = OsmemServer.start(japanese=False)
        url = server.url
        extra = {"node_class": _PlainJsonNode.make()}
        where = f"osmem-server {server.version} (in-memory, Elasticsearch-compatible test server)"
    settings = ElasticsearchStoreSettings(
        hosts=[url], index_prefix=f"bench{os.getpid()}", spool_dir=work / "spool",
        dead_letter_file=work / "dead.jsonl", number_of_replicas=0, request_timeout=120,
        bulk_chunk=5000,
    )  # fmt: skip
    client = build_client(settings, **extra)
    store = ElasticsearchAlertStore(client, settings)

    def stop() -> None:
        client.options(ignore_status=404).indices.delete(index=f"{settings.index_prefix}-*")
        client.options(ignore_status=404).indices.delete_index_template(
            name=f"{settings.index_prefix}-*"
        )
        store.close()
        if server is not None:
            server.close()
            for pipe in (server.process.stdin, server.process.stdout):
                if pipe is not None:
                    pipe.close()

    return store, stop, where


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--alerts", type=int, default=1_000_000)
    p.add_argument(
        "--es-alerts",
        type=int,
        help="alerts for the Elasticsearch store (default: --alerts with CITYSHIELD_ES_URL; "
        "50,000 on osmem-server, which ingests ~1,000 alerts/s and sorts in memory per query)",
    )
    p.add_argument("--batch", type=int, default=5000, help="alerts per upsert_alerts call")
    p.add_argument("--runs", type=int, default=30, help="timed runs per query")
    p.add_argument("--stores", default="sqlite,elasticsearch")
    p.add_argument("--out", default=str(RESULTS), help="markdown file to update, or - for stdout")
    args = p.parse_args(argv)
    rows: list[tuple[str, str, int, float, dict[str, list[float]], int]] = []
    with tempfile.TemporaryDirectory(prefix="bench-stores-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        for kind in args.stores.split(","):
            n = args.alerts
            if kind == "elasticsearch":
                default = args.alerts if os.environ.get("CITYSHIELD_ES_URL") else 50_000
                n = args.es_alerts or min(args.alerts, default)
            print(f"{kind}: ingesting {n:,} alerts", file=sys.stderr)
            gc.collect()
            if kind == "sqlite":
                store: AlertStore = SqliteAlertStore(work / "bench.db")
                where, stop = (
                    f"SQLite {__import__('sqlite3').sqlite_version} (file on local disk, WAL)",
                    store.close,
                )
            elif kind == "elasticsearch":
                store, stop, where = open_es(work)
            else:
                raise SystemExit(f"unknown store {kind!r}")
            try:
                stored, seconds = ingest(store, n, args.batch)
                if isinstance(store, ElasticsearchAlertStore):
                    store._es.indices.refresh(index=f"{store.index_prefix}-*")
                counted = store.count_alerts(AlertQuery())
                print(
                    f"{kind}: {stored / seconds:,.0f} alerts/s; measuring queries", file=sys.stderr
                )
                rows.append((kind, where, stored, seconds, latencies(store, args.runs), counted))
            finally:
                stop()
    text = section(rows, args)
    if args.out == "-":
        print(text)
    else:
        write_section(Path(args.out), text)
        print(f"updated the Stores section of {args.out}", file=sys.stderr)
    return 0


def section(
    rows: list[tuple[str, str, int, float, dict[str, list[float]], int]], args: argparse.Namespace
) -> str:
    info = machine.describe()
    lines = [
        START,
        "## Stores",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python -m bench.stores "
        f"{' '.join(sys.argv[1:])}` on {info.get('cpu', '?')}, {info.get('cores', '?')}, "
        f"{info.get('ram', '?')} (shared with other engineers' processes; load average "
        f"{machine.load_average()}). Synthetic alerts (see the module docstring); only "
        "`upsert_alerts` calls are timed, in batches of "
        f"{args.batch:,}; then each console query runs {args.runs} times (after one warm-up run) "
        "on everything stored. osmem-server is an in-memory test server: its figures show that "
        "the Elasticsearch path works at this size, not how fast a cluster is; run with "
        "`CITYSHIELD_ES_URL` for that.",
        "",
        "| store | server | alerts stored | seconds | alerts/s | query p50 ms "
        "(median over queries) | query p95 ms (all runs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, where, stored, seconds, lat, counted in rows:
        every = [t for ts in lat.values() for t in ts]
        median_p50 = statistics.median(statistics.median(ts) for ts in lat.values())
        lines.append(
            f"| {kind} | {where} | {counted:,} | {seconds:,.1f} | {stored / seconds:,.0f} | "
            f"{median_p50 * 1000:,.1f} | {p95(every) * 1000:,.1f} |"
        )
    lines += ["", "Per query, p50 / p95 in milliseconds:", ""]
    names = list(rows[0][4]) if rows else []
    lines.append("| query | " + " | ".join(r[0] for r in rows) + " |")
    lines.append("|---|" + "---|" * len(rows))
    for name in names:
        cells = [
            f"{statistics.median(r[4][name]) * 1000:,.1f} / {p95(r[4][name]) * 1000:,.1f}"
            for r in rows
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write_section(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())

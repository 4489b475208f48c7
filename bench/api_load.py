"""The load generator for ``bench.api``, run as its own process: ``clients`` closed-loop HTTP
clients (each waits for its answer before sending the next request) for ``duration`` seconds,
then one JSON line with the latencies per query kind on stdout.

    CITYSHIELD_BENCH_TOKEN=cs_... python -m bench.api_load URL --clients 50 --duration 20

The token comes from the environment, not the command line (where ``ps`` would show it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import defaultdict
from typing import Any

import httpx

#: Analysts' searches with the store's filters; ``page2`` follows a cursor (keyset pagination).
SEARCHES: dict[str, dict[str, Any]] = {
    "newest": {"limit": 50},
    "open": {"status": "open", "limit": 50},
    "rule": {"rule": "rule_07", "limit": 50},
    "severity": {"min_severity": "critical", "limit": 50},
    "cidr": {"ip": "10.20.17.0/24", "limit": 50},
    "window": {"start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z", "limit": 50},
    "page2": {"limit": 50},
}
TEXT = {"text": {"text": "rule_3", "limit": 50}}


async def run(
    url: str, token: str, clients: int, duration: float, kinds: list[str]
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=600) as http:
        first = await http.get("/api/v1/alerts", params={"limit": 50})
        first.raise_for_status()
        cursor = first.json()["next_cursor"]
        searches = {**SEARCHES, **TEXT}
        searches["page2"] = {"limit": 50, "cursor": cursor}
        latencies: dict[str, list[float]] = defaultdict(list)
        errors: dict[str, int] = defaultdict(int)
        deadline = time.perf_counter() + duration

        async def client(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                kind = rng.choice(kinds)
                started = time.perf_counter()
                try:
                    response = await http.get("/api/v1/alerts", params=searches[kind])
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                if ok:
                    latencies[kind].append(elapsed)
                else:
                    errors[kind] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": wall,
        "client_cpu_s": usage.ru_utime + usage.ru_stime,
        "latencies": dict(latencies),
        "errors": dict(errors),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.api_load")
    p.add_argument("url")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--kinds", default=",".join(SEARCHES), help="query kinds to mix")
    a = p.parse_args(argv)
    token = os.environ.get("CITYSHIELD_BENCH_TOKEN")
    if not token:
        print("set CITYSHIELD_BENCH_TOKEN", file=sys.stderr)
        return 2
    runner: Any = asyncio.run
    try:
        import uvloop  # installed with uvicorn[standard]: a cheaper client loop

        runner = uvloop.run
    except ImportError:  # plain asyncio is slower but fine
        pass
    result = runner(run(a.url, token, a.clients, a.duration, a.kinds.split(",")))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

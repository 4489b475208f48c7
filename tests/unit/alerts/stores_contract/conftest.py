"""One ``store`` fixture for the contract suite: every built-in store, each a fresh empty one.

SQLite runs in ``tmp_path``. Elasticsearch runs against an osmem-server process (an
Elasticsearch-compatible test server) started once per session, each test in its own index
prefix; or against a real cluster when ``CITYSHIELD_ES_URL`` is set.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.stores import AlertStore, SqliteAlertStore
from cityshield.clock import FixedClock

sys.path.insert(0, str(Path(__file__).parents[3] / "e2e" / "elasticsearch"))

from esserver import ES_URL, es_store, start_osmem, stop_osmem

STORES = ["sqlite", "elasticsearch"]


@pytest.fixture(scope="session")
def contract_es_url() -> Iterator[str]:
    """The cluster the Elasticsearch store runs on: ``CITYSHIELD_ES_URL``, or osmem-server."""
    if ES_URL:
        yield ES_URL
        return
    server = start_osmem()
    yield server.url
    stop_osmem(server)


@pytest.fixture(params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[AlertStore]:
    kind = request.param
    if kind == "sqlite":
        with SqliteAlertStore(tmp_path / "contract.db", clock) as opened:
            yield opened
        return
    if kind == "elasticsearch":
        url = request.getfixturevalue("contract_es_url")
        with es_store(url, tmp_path, clock) as opened:
            yield opened
        return
    raise AssertionError(f"no fixture for store {kind!r}")

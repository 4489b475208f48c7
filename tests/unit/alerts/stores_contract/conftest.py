"""One ``store`` fixture for the contract suite: every built-in store, each a fresh empty one.

SQLite runs in ``tmp_path``. Elasticsearch runs against an osmem-server process (an
Elasticsearch-compatible test server) started once per session, each test in its own index
prefix; or against a real cluster when ``CITYSHIELD_ES_URL`` is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.stores import AlertStore, SqliteAlertStore
from cityshield.clock import FixedClock

STORES = ["sqlite"]


@pytest.fixture(params=STORES)
def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[AlertStore]:
    kind = request.param
    if kind == "sqlite":
        with SqliteAlertStore(tmp_path / "contract.db", clock) as opened:
            yield opened
        return
    raise AssertionError(f"no fixture for store {kind!r}")

"""``cityshield store stats|migrate`` as a user runs them (a separate process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from esserver import ES_URL, cleanup

from alerts.model import Alert
from alerts.stores import SqliteAlertStore

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[3]


def cityshield(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


@pytest.fixture
def sqlite_store(tmp_path: Path, make_alert: Callable[..., Alert]) -> Path:
    path = tmp_path / "alerts.db"
    with SqliteAlertStore(path) as store:
        store.upsert_alerts([make_alert(src=f"10.2.0.{i}") for i in range(5)])
    return path


def test_stats_of_the_configured_store(tmp_path: Path, sqlite_store: Path) -> None:
    done = cityshield(tmp_path, "store", "stats", "--store", str(sqlite_store), "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert (stats["store"], stats["alerts"], stats["alerts_open"]) == ("sqlite", 5, 5)


def test_migrating_to_an_unreachable_cluster_fails_at_once(
    tmp_path: Path, sqlite_store: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = cityshield(
        tmp_path,
        "store",
        "migrate",
        "--to",
        "elasticsearch",
        "--store",
        str(sqlite_store),
        CITYSHIELD_STORE__ELASTICSEARCH__HOSTS=json.dumps([url]),
        CITYSHIELD_STORE__ELASTICSEARCH__REQUEST_TIMEOUT="1",
        CITYSHIELD_STORE__ELASTICSEARCH__MAX_RETRIES="0",
    )
    assert done.returncode == 3
    assert url in done.stderr
    assert "cannot reach Elasticsearch" in done.stderr


def test_migrate_refuses_one_store_into_itself(tmp_path: Path) -> None:
    done = cityshield(tmp_path, "store", "migrate", "--to", "sqlite", "--from", "sqlite")
    assert done.returncode == 1
    assert "nothing to migrate" in done.stderr
    done = cityshield(tmp_path, "store", "migrate", "--to", "mongo")
    assert done.returncode == 1
    assert "--to is one of sqlite, elasticsearch" in done.stderr


@pytest.mark.skipif(
    ES_URL is None, reason="the unchanged client needs a real cluster: set CITYSHIELD_ES_URL"
)
def test_migrate_to_a_real_cluster_and_back(tmp_path: Path, sqlite_store: Path) -> None:
    prefix = f"clitest{os.getpid()}"
    env = {
        "CITYSHIELD_STORE__ELASTICSEARCH__HOSTS": json.dumps([ES_URL]),
        "CITYSHIELD_STORE__ELASTICSEARCH__INDEX_PREFIX": prefix,
        "CITYSHIELD_STORE__ELASTICSEARCH__REFRESH": "true",
    }
    try:
        done = cityshield(
            tmp_path,
            "store",
            "migrate",
            "--to",
            "elasticsearch",
            "--store",
            str(sqlite_store),
            "--json",
            **env,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["copied"]["alerts"] == 5
        back = tmp_path / "back.db"
        done = cityshield(
            tmp_path, "store", "migrate", "--to", "sqlite", "--store", str(back), **env
        )
        assert done.returncode == 0, done.stderr
        with SqliteAlertStore(back) as store:
            assert store.stats()["alerts"] == 5
    finally:
        assert ES_URL is not None
        cleanup(ES_URL, prefix)

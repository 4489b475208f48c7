"""alerts.stores.sqlite_schema: migrations, refusing newer and foreign files, bad paths."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.model import Alert, TriageStatus
from alerts.stores import AlertQuery, SqliteAlertStore
from alerts.stores.sqlite_query import alert_row
from alerts.stores.sqlite_schema import LATEST_VERSION, MIGRATIONS, migrate, user_version
from cityshield.errors import StoreError

AlertFactory = Callable[..., Alert]
RawDb = Callable[[Path], sqlite3.Connection]

V1_INSERT_ALERT = """
    INSERT INTO alerts (id, rule_id, rule_name, severity, risk_score, first_seen, last_seen,
                        status, assignee, observer, community_id, src_ip, dst_ip, message, count,
                        doc)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
    return {name for (name,) in rows}


def test_a_new_store_is_at_the_latest_version(tmp_path: Path, raw_db: RawDb) -> None:
    with SqliteAlertStore(tmp_path / "a.db"):
        pass
    db = raw_db(tmp_path / "a.db")
    assert user_version(db) == LATEST_VERSION == len(MIGRATIONS)
    assert {"alerts", "flows", "triage_log", "triage_log_no_update"} <= _tables(db)


def test_a_v1_database_is_migrated_to_the_latest_and_keeps_its_alerts(
    tmp_path: Path, raw_db: RawDb, make_alert: AlertFactory
) -> None:
    path = tmp_path / "v1.db"
    db = raw_db(path)
    assert migrate(db, str(path), target=1) == 1
    assert "triage_log" not in _tables(db)
    alert = make_alert()
    # The row as version 1 wrote it: every column of today's but the analyst ``version`` (4).
    row = alert_row(alert)
    db.execute(V1_INSERT_ALERT, (*row[:-2], row[-1]))
    db.close()

    with SqliteAlertStore(path) as store:
        assert store.get_alert(alert.id) == alert
        changed = store.update_triage(
            alert.id, status=TriageStatus.ACKNOWLEDGED, tags=["old"], actor="ana"
        )
        assert changed.version == 1
        assert len(store.triage_history(alert.id)) == 1
        assert [a.id for a in store.query_alerts(AlertQuery(tags=["old"])).items] == [alert.id]
    assert user_version(raw_db(path)) == LATEST_VERSION


def test_migrating_again_changes_nothing(tmp_path: Path, raw_db: RawDb) -> None:
    db = raw_db(tmp_path / "a.db")
    assert migrate(db, "a.db") == LATEST_VERSION
    assert migrate(db, "a.db") == LATEST_VERSION


def test_a_failing_migration_is_rolled_back_whole(tmp_path: Path, raw_db: RawDb) -> None:
    db = raw_db(tmp_path / "a.db")
    broken = (*MIGRATIONS, ("CREATE TABLE extra (x)", "THIS IS NOT SQL"))
    with pytest.raises(StoreError, match="cannot migrate"):
        migrate(db, "a.db", target=len(broken), migrations=broken)
    assert user_version(db) == LATEST_VERSION
    assert "extra" not in _tables(db)


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path, raw_db: RawDb) -> None:
    path = tmp_path / "future.db"
    with SqliteAlertStore(path):
        pass
    raw_db(path).execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(StoreError, match="newer CityShield") as info:
        SqliteAlertStore(path)
    assert info.value.where == str(path)


def test_a_file_that_is_not_a_database_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a SQLite database\n" * 200)
    with pytest.raises(StoreError, match="not a SQLite database") as info:
        SqliteAlertStore(path)
    assert str(path) in str(info.value)


def test_another_programs_database_is_refused(tmp_path: Path, raw_db: RawDb) -> None:
    path = tmp_path / "other.db"
    raw_db(path).execute("CREATE TABLE customers (name TEXT)")
    with pytest.raises(StoreError, match="not a CityShield store"):
        SqliteAlertStore(path)
    assert _tables(raw_db(path)) == {"customers"}


def test_a_directory_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open") as info:
        SqliteAlertStore(tmp_path)
    assert str(tmp_path) in str(info.value)

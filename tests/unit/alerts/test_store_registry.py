"""alerts.stores.registry: stores by id, options validated, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import pytest

from alerts.stores import BUILTIN_STORES, SqliteAlertStore, open_store, store_classes
from cityshield.clock import Clock, FixedClock
from cityshield.errors import ConfigError
from cityshield.settings import Section


def test_open_store_builds_the_sqlite_store(tmp_path: Path, clock: FixedClock) -> None:
    with open_store("sqlite", path=str(tmp_path / "a.db"), busy_timeout_ms=100, clock=clock) as s:
        assert isinstance(s, SqliteAlertStore)
        assert s.path == tmp_path / "a.db"
    assert (tmp_path / "a.db").is_file()


def test_an_unknown_store_names_the_known_ones() -> None:
    known = "known stores: elasticsearch, sqlite"
    with pytest.raises(ConfigError, match=f"unknown alert store 'mongo'; {known}"):
        open_store("mongo")


def test_bad_options_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="busy_timeout_ms"):
        open_store("sqlite", path=str(tmp_path / "a.db"), busy_timeout_ms=-1)
    with pytest.raises(ConfigError, match="hostname"):
        open_store("sqlite", hostname="es.local")


def test_a_duplicate_id_is_an_error() -> None:
    class OtherSqliteStore(SqliteAlertStore):
        @classmethod
        def from_settings(cls, settings: Section, clock: Clock) -> Self:  # pragma: no cover
            raise AssertionError

    assert [cls.id for cls in BUILTIN_STORES] == ["sqlite", "elasticsearch"]
    with pytest.raises(ConfigError, match="share the id 'sqlite'"):
        store_classes([OtherSqliteStore])


def test_extra_stores_can_be_opened(tmp_path: Path) -> None:
    class MemoryStore(SqliteAlertStore):
        id = "memory"

        @classmethod
        def from_settings(cls, settings: Section, clock: Clock) -> Self:
            return cls(":memory:", clock)

    opened: Any = open_store("memory", extra=[MemoryStore])
    with opened:
        assert isinstance(opened, MemoryStore)
        assert opened.path is None

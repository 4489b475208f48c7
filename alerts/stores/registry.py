"""The built-in alert stores by id, and ``open_store`` to build one from configuration.

An explicit list, not discovery by import side effect: what ships is visible here, and a duplicate
id is an error at start-up rather than one store silently shadowing another.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from alerts.stores.base import AlertStore
from alerts.stores.elasticsearch import ElasticsearchAlertStore
from alerts.stores.sqlite import SqliteAlertStore
from cityshield.clock import Clock, SystemClock
from cityshield.errors import ConfigError

BUILTIN_STORES: tuple[type[AlertStore], ...] = (SqliteAlertStore, ElasticsearchAlertStore)


def store_classes(extra: Iterable[type[AlertStore]] = ()) -> dict[str, type[AlertStore]]:
    """Store classes by id: the built-ins plus ``extra`` (plugins); a duplicate id is an error."""
    classes: dict[str, type[AlertStore]] = {}
    for cls in (*BUILTIN_STORES, *extra):
        if cls.id in classes:
            raise ConfigError(
                f"two alert stores share the id {cls.id!r}: "
                f"{classes[cls.id].__qualname__} and {cls.__qualname__}"
            )
        classes[cls.id] = cls
    return classes


def open_store(
    kind: str,
    *,
    clock: Clock | None = None,
    extra: Iterable[type[AlertStore]] = (),
    **options: Any,
) -> AlertStore:
    """Open the store with registry id ``kind``, its options validated by its settings class."""
    classes = store_classes(extra)
    cls = classes.get(kind)
    if cls is None:
        known = ", ".join(sorted(classes))
        raise ConfigError(f"unknown alert store {kind!r}; known stores: {known}", where="store")
    try:
        settings = cls.settings_class.model_validate(options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(problems, where=f"store ({kind})") from exc
    return cls.from_settings(settings, clock or SystemClock())

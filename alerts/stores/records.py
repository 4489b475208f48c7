"""Protocol records (DNS, HTTP, TLS, files, certificates, SSH) as stores keep them.

Sensors report these facts as events (``sensors.events``); they reach a store as ECS documents,
one kind per index or table. A record's id is its ``event.id`` when it has one, else a hash of the
document, so that a replayed batch replaces records instead of adding them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast, get_args

import orjson

from cityshield.errors import StoreError
from cityshield.ids import record_id

RecordKind = Literal["dns", "http", "tls", "file", "x509", "ssh"]
RECORD_KINDS: tuple[str, ...] = get_args(RecordKind)


def check_kind(kind: str) -> RecordKind:
    if kind not in RECORD_KINDS:
        raise StoreError(f"unknown record kind {kind!r}; known kinds: {', '.join(RECORD_KINDS)}")
    return cast(RecordKind, kind)


def record_doc_id(kind: str, doc: Mapping[str, Any]) -> str:
    """The record's ``event.id``, or a hash of its canonical JSON."""
    event = doc.get("event")
    if isinstance(event, Mapping) and isinstance(event.get("id"), str) and event["id"]:
        return str(event["id"])
    return record_id(kind, orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode())

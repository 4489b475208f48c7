"""The dead-letter file: documents the cluster refused for good (a mapping error, a document too
large), one JSON line each with the index, id, HTTP status and the cluster's reason, so that an
operator can fix and re-send them. Bounded: past its budget, refused documents are counted and
logged but no longer written (the reason is still logged)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from alerts.model import iso
from cityshield.errors import StoreError

log = logging.getLogger(__name__)


class DeadLetterFile:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.written = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def add(
        self,
        *,
        at: datetime,
        index: str,
        doc_id: str | None,
        status: int,
        reason: str,
        doc: Mapping[str, Any] | None,
    ) -> None:
        line = orjson.dumps(
            {
                "at": iso(at),
                "index": index,
                "id": doc_id,
                "status": status,
                "reason": reason,
                "document": doc,
            }
        )
        log.error("document %s refused by %s (%d): %s", doc_id, index, status, reason)
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                size = self.path.stat().st_size if self.path.exists() else 0
                if size + len(line) + 1 > self.max_bytes:
                    self.dropped += 1
                    return
                with self.path.open("ab") as out:
                    out.write(line + b"\n")
                self.written += 1
            except OSError as exc:
                raise StoreError(
                    f"cannot write the dead-letter file: {exc}", where=str(self.path)
                ) from exc


def reason_of(error: Any) -> str:
    """The cluster's reason for a refused bulk item, with its cause when there is one."""
    if not isinstance(error, Mapping):
        return str(error)
    text = f"{error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping):
        text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return text

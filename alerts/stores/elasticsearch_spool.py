"""A bounded disk spool: batches wait here while the cluster is down and are replayed, oldest
first, when it answers again.

Each batch is one file of JSON lines, written to a temporary name, flushed to disk, then renamed,
so that a crash leaves whole batches or none. Replaying is safe to repeat: flows and records have
deterministic ids (a replay replaces), and alerts are merged by ``refresh`` (max and min), so a
batch replayed twice, or replayed after the cluster did take it before timing out, is stored once.
When the spool would pass its budget, the write is refused with a ``StoreError``: the caller (a
sensor's own spool, a migration) keeps the batch, rather than the store losing it quietly.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from cityshield.errors import StoreError

log = logging.getLogger(__name__)

_SEGMENT = re.compile(r"^(?P<seq>\d{12})-(?P<kind>[a-z0-9_:]+)-(?P<count>\d+)\.jsonl$")


class DiskSpool:
    """Batches of documents by kind (``alerts``, ``flows``, ``records:dns``, ...)."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._lock = threading.RLock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the spool: {exc}", where=str(directory)) from exc
        for stale in directory.glob("*.tmp"):
            stale.unlink()  # a batch a crash left half-written was never acknowledged

    def segments(self) -> list[tuple[Path, str, int]]:
        """(file, kind, documents) of every waiting batch, oldest first."""
        found = []
        for path in sorted(self.directory.iterdir()):
            match = _SEGMENT.match(path.name)
            if match:
                found.append((path, match["kind"], int(match["count"])))
        return found

    def pending(self) -> int:
        """Documents waiting."""
        return sum(count for _, _, count in self.segments())

    def size(self) -> int:
        return sum(path.stat().st_size for path, _, _ in self.segments())

    def put(self, kind: str, docs: Iterable[Mapping[str, Any]]) -> int:
        """Write one batch; returns how many documents it holds."""
        with self._lock:
            used = self.size()
            segments = self.segments()
            seq = int(segments[-1][0].name[:12]) + 1 if segments else 1
            tmp = self.directory / f"{seq:012d}.tmp"
            count = 0
            try:
                with tmp.open("wb") as out:
                    for doc in docs:
                        line = orjson.dumps(doc) + b"\n"
                        used += len(line)
                        if used > self.max_bytes:
                            raise StoreError(
                                f"the spool is full ({self.max_bytes} bytes): the cluster has been "
                                "unreachable too long; this batch was not stored",
                                where=str(self.directory),
                            )
                        out.write(line)
                        count += 1
                    out.flush()
                    os.fsync(out.fileno())
                tmp.rename(self.directory / f"{seq:012d}-{kind}-{count}.jsonl")
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            log.warning("cluster unreachable: %d %s documents spooled", count, kind)
            return count

    def replay(self, send: Callable[[str, list[dict[str, Any]]], None]) -> int:
        """Send each batch, oldest first, removing it once ``send`` returns; stops at the first
        batch ``send`` raises for (the cluster is still down). Returns documents replayed."""
        replayed = 0
        with self._lock:
            for path, kind, count in self.segments():
                send(kind, list(_read(path)))
                path.unlink()
                replayed += count
        if replayed:
            log.warning("%d spooled documents replayed", replayed)
        return replayed


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for line in lines:
            doc = orjson.loads(line)
            if isinstance(doc, dict):
                yield doc

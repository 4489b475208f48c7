"""``EngineLock``: one engine executes runs per run database at a time.

An exclusive ``flock`` on ``<run db>.engine.lock``, which the kernel drops when the process dies:
whoever takes the lock knows that every run left ``running`` was orphaned by a dead engine.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class EngineLock:
    """An exclusive ``flock`` on ``<run db>.engine.lock``; released when the process ends."""

    def __init__(self, db_path: str) -> None:
        #: None for an in-memory run database: no other process can see it anyway.
        self.path = None if db_path == ":memory:" else Path(db_path + ".engine.lock")
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None or self.path is None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

"""``ResponseWorker``: the engine's thread. It takes the engine lock (retrying while another
process holds it), resumes runs a dead engine left, starts runs for alerts that match triggers
(queued by ``submit_alerts``, so detection never waits for actions), and advances runs that are
queued or waiting (an approval decided or expired)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable

from alerts.model import Alert
from response.lock import EngineLock
from response.models import RunState
from response.service import ResponseService

log = logging.getLogger(__name__)
#: Passes a triggered alert waits for the store to have it before its runs start anyway.
_STORE_PASSES = 20


class ResponseWorker:
    def __init__(
        self,
        service: ResponseService,
        *,
        poll_seconds: float = 1.0,
        max_queued: int = 1000,
        auto_start: bool = True,
        is_stored: Callable[[str], bool] | None = None,
    ) -> None:
        self.service = service
        self.poll_seconds = poll_seconds
        self.auto_start = auto_start
        #: Whether the alert store has an alert yet: triggers submitted just before the alert is
        #: stored wait (a few passes) so that actions on the alert find it.
        self.is_stored = is_stored
        self._not_yet: dict[str, int] = {}
        self.lock = EngineLock(service.store.where)
        self.alerts: queue.Queue[Alert] = queue.Queue(maxsize=max_queued)
        self.dropped = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def submit_alerts(self, alerts: Iterable[Alert]) -> None:
        """Called where new alerts are stored; never blocks."""
        if not self.auto_start:
            return
        for alert in alerts:
            try:
                self.alerts.put_nowait(alert)
            except queue.Full:
                self.dropped += 1
        self.service.wakeup.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="response-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.service.wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.lock.release()

    def _loop(self) -> None:
        holding = False
        while not self._stop.is_set():
            try:
                if not holding and self.lock.acquire():
                    holding = True
                    self.recover()
                if holding:
                    self.step()
            except Exception:  # the worker must outlive one bad run
                log.exception("response engine: a pass failed")
            self.service.wakeup.wait(self.poll_seconds)
            self.service.wakeup.clear()

    def recover(self) -> list[str]:
        """Resume the runs a dead engine left running (call holding the lock)."""
        orphans = self.service.store.run_ids(frozenset({RunState.RUNNING}))
        for run_id in orphans:
            log.warning("response engine: resuming run %s", run_id)
            self.service.engine.advance(run_id)
        return orphans

    def step(self) -> None:
        """One pass: triggered runs started, runnable runs advanced (call holding the lock)."""
        while not self._stop.is_set():
            try:
                alert = self.alerts.get_nowait()
            except queue.Empty:
                break
            if self.is_stored is not None and not self.is_stored(alert.id):
                tries = self._not_yet.get(alert.id, 0) + 1
                if tries < _STORE_PASSES:
                    self._not_yet[alert.id] = tries
                    self.alerts.put_nowait(alert)
                    break  # look again on the next pass
            self._not_yet.pop(alert.id, None)
            self.service.start_triggered(alert)
        for run_id in self.service.runnable():
            if self._stop.is_set():
                break
            self.service.engine.advance(run_id)

"""``Shipper``: the agent's sending thread. Replays the spool in order (the oldest batch must be
stored before the next is sent, so the central service sees batches as they were made), sends
heartbeats, and uploads the packets of alerts once the batch naming them is stored.

A retry after a lost answer is safe: batch ids are idempotent on the central side (a batch
stored twice answers ``duplicate``), so "no loss" never costs "no duplicates".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sensors.agent import AgentSettings, CentralClient, DiskSpool, SendOutcome
from sensors.evidence import PcapRing, extract_flows

log = logging.getLogger(__name__)
#: Alerts whose packets wait to be uploaded, at most (a sweep of alerts must not grow it forever).
MAX_EVIDENCE_JOBS = 10_000


@dataclass(slots=True)
class EvidenceJob:
    alert_id: str
    community_ids: list[str]
    start_ns: int
    end_ns: int
    #: Sent once ``seq`` is stored centrally (the alert must exist there first).
    seq: int
    attempts: int = 0


@dataclass(slots=True)
class ShipperStats:
    batches_sent: int = 0
    batches_duplicate: int = 0
    batches_rejected: int = 0
    heartbeats: int = 0
    evidence_uploaded: int = 0
    evidence_failed: int = 0
    last_contact: float | None = None
    last_error: str | None = None
    retries: int = 0
    central_reachable: bool = False


class Shipper:
    def __init__(
        self,
        settings: AgentSettings,
        spool: DiskSpool,
        client: CentralClient,
        heartbeat: Callable[[], dict[str, Any]],
        ring: PcapRing | None = None,
        evidence_file: Path | None = None,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self.client = client
        self._heartbeat = heartbeat
        self.ring = ring
        self.stats = ShipperStats()
        self._wake = threading.Event()
        self._stop = threading.Event()
        #: Pending uploads survive a restart: the packets stay in the ring, the job in this file.
        self._evidence_file = evidence_file
        self._evidence: dict[str, EvidenceJob] = self._load_evidence()
        self.evidence_dropped = 0
        self._evidence_lock = threading.Lock()
        self._next_heartbeat = 0.0
        self._next_config = 0.0
        #: Aggregation keys per rule as the central service last gave them (None: not yet read).
        self.central_aggregation: dict[str, list[str]] | None = None
        #: Set when ``central_aggregation`` changed; the agent rebuilds detection and clears it.
        self.config_changed = threading.Event()
        self._backoff = 0.5
        self._thread: threading.Thread | None = None
        self._rejected_dir = Path(spool.dir) / "rejected"

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shipper", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, flush_seconds: float) -> None:
        """Keep sending for up to ``flush_seconds``, then stop (what is left stays spooled)."""
        deadline = time.monotonic() + flush_seconds
        while time.monotonic() < deadline and (self.spool.pending() or self._due_evidence(True)):
            self.wake()
            time.sleep(0.1)
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.request_timeout_seconds + 5)
        self._send_heartbeat()  # the last word: final counters

    def add_evidence(self, jobs: list[EvidenceJob]) -> None:
        """Queue uploads (once the batch naming the alerts is stored); saved in one write."""
        if not jobs:
            return
        with self._evidence_lock:
            for job in jobs:
                self._evidence.pop(job.alert_id, None)
                self._evidence[job.alert_id] = job  # a newer version of the alert replaces it
            while len(self._evidence) > MAX_EVIDENCE_JOBS:  # bounded: the oldest go
                del self._evidence[next(iter(self._evidence))]
                self.evidence_dropped += 1
            self._save_evidence()

    def _load_evidence(self) -> dict[str, EvidenceJob]:
        if self._evidence_file is None:
            return {}
        try:
            rows = orjson.loads(self._evidence_file.read_bytes())
            jobs = [EvidenceJob(str(r[0]), [str(c) for c in r[1]], int(r[2]), int(r[3]), int(r[4]))
                    for r in rows[-MAX_EVIDENCE_JOBS:]]  # fmt: skip
        except (OSError, orjson.JSONDecodeError, TypeError, ValueError, IndexError, KeyError):
            return {}
        return {j.alert_id: j for j in jobs}

    def _save_evidence(self) -> None:
        """Under ``_evidence_lock``."""
        if self._evidence_file is None:
            return
        rows = [[j.alert_id, j.community_ids, j.start_ns, j.end_ns, j.seq]
                for j in self._evidence.values()]  # fmt: skip
        tmp = self._evidence_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(rows))
        tmp.replace(self._evidence_file)

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() >= self._next_heartbeat:
                self._send_heartbeat()
            if time.monotonic() >= self._next_config:
                self._read_config()
            sent_all = self._send_spooled()
            if sent_all:
                self._send_evidence()
                self._backoff = 0.5
                wait = 1.0
            else:
                wait = self._backoff
                self._backoff = min(self._backoff * 2, self.settings.max_backoff_seconds)
            self._wake.wait(wait)
            self._wake.clear()

    def _send_heartbeat(self) -> None:
        self._next_heartbeat = time.monotonic() + self.settings.heartbeat_seconds
        outcome = self.client.heartbeat(self._heartbeat())
        self._note(outcome)
        if outcome.outcome == "stored":
            self.stats.heartbeats += 1

    def _read_config(self) -> None:
        """Detection settings analysts change centrally reach the sensor: read, compare, flag."""
        self._next_config = time.monotonic() + self.settings.config_poll_seconds
        outcome = self.client.aggregation()
        self._note(outcome)
        if outcome.outcome != "stored" or not isinstance(outcome.data, list):
            return
        try:
            fields = {str(r["rule_id"]): [str(f) for f in r["fields"]] for r in outcome.data}
        except (KeyError, TypeError):
            log.warning("the central service's aggregation keys are not in the expected form")
            return
        if fields != self.central_aggregation:
            self.central_aggregation = fields
            self.config_changed.set()

    def _send_spooled(self) -> bool:
        """Send pending batches in order; False when the central service must be waited for."""
        for entry in self.spool.pending():
            if self._stop.is_set() and not self.stats.central_reachable:
                return False
            outcome = self.client.ingest(self.spool.read(entry))
            self._note(outcome)
            if outcome.outcome == "retry":
                self.stats.retries += 1
                if outcome.retry_after is not None:
                    self._backoff = max(outcome.retry_after, 0.1)
                return False
            if outcome.outcome == "rejected":
                # The service will never take it: keep a copy for the operator, go on.
                self._rejected_dir.mkdir(exist_ok=True)
                (self._rejected_dir / f"{entry.seq:012d}.json.gz").write_bytes(
                    self.spool.read(entry)
                )
                self.stats.batches_rejected += 1
                log.error("batch %d rejected (%s): %s", entry.seq, outcome.status, outcome.detail)
            elif outcome.body is not None and outcome.body.get("duplicate"):
                self.stats.batches_duplicate += 1
            else:
                self.stats.batches_sent += 1
            self.spool.ack(entry.seq)
        return True

    def _due_evidence(self, at_end: bool = False) -> list[EvidenceJob]:
        margin = int(self.settings.evidence_margin_seconds * 1e9)
        now = time.time_ns()
        with self._evidence_lock:
            return [
                j
                for j in self._evidence.values()
                if j.seq <= self.spool.acked and (at_end or now > j.end_ns + margin)
            ]

    def _send_evidence(self, at_end: bool = False) -> None:
        if self.ring is None:
            return
        margin = int(self.settings.evidence_margin_seconds * 1e9)
        for job in self._due_evidence(at_end or self._stop.is_set()):
            result = extract_flows(
                self.ring,
                job.community_ids,
                job.start_ns - margin,
                job.end_ns + margin,
                max_bytes=self.settings.evidence_max_mib * 1024 * 1024,
            )
            outcome = self.client.upload_evidence(
                job.alert_id, result.pcap, result.status, result.detail, result.oldest_ns
            )
            self._note(outcome)
            job.attempts += 1
            if outcome.outcome == "stored":
                self.stats.evidence_uploaded += 1
            elif outcome.outcome == "retry" or (outcome.status == 404 and job.attempts < 5):
                return  # later, in order
            else:
                self.stats.evidence_failed += 1
                log.warning("evidence of %s not taken: %s", job.alert_id, outcome.detail)
            with self._evidence_lock:
                if self._evidence.get(job.alert_id) is job:
                    del self._evidence[job.alert_id]
                    self._save_evidence()

    def _note(self, outcome: SendOutcome) -> None:
        if outcome.status is not None:
            self.stats.last_contact = time.time()
            self.stats.central_reachable = True
        else:
            self.stats.central_reachable = False
        if outcome.outcome != "stored":
            self.stats.last_error = f"{outcome.status or 'unreachable'}: {outcome.detail}"

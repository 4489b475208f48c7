"""Ingest: decode a sensor's batch within bounds, then store it through one writer thread.

The queue in front of the writer is bounded (``api.ingest_queue``): when it is full the sensor
gets 429 at once and keeps the batch in its spool, instead of the service buffering without end.
The answer comes after the batch is stored, so a 200 means durable and the sensor may drop it.
One writer also makes the batch-id check and the store write one step: two copies of a batch
racing each other cannot both be stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import queue
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from alerts.model import Alert, Triage
from alerts.stores.base import AlertStore, flow_span
from api.app.auth.principal import Principal
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase, micros
from api.app.errors import Conflict, InvalidRequest, TooLarge, TooMany
from api.app.fleet.batch import IngestBatch, IngestResult
from api.app.metrics import Metrics
from cityshield.clock import Clock

AlertFilter = Callable[[Sequence[Alert]], list[Alert]]


@dataclass(frozen=True, slots=True)
class IngestJob:
    sensor_id: str
    sensor_name: str
    batch: IngestBatch
    digest: str


def decode_body(
    body: bytes, encoding: str | None, settings: ApiSettings
) -> tuple[IngestBatch, str]:
    """The batch in a request body, and the SHA-256 of its JSON; bounded in memory throughout."""
    limit = settings.max_ingest_decompressed_bytes
    encoding = (encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding != "identity":
        raise InvalidRequest(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    if len(body) > limit:
        raise TooLarge(f"the batch is over {limit} bytes")
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("the body must be a JSON object (an ingest batch)")
    try:
        batch = IngestBatch.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidRequest(f"not an ingest batch: {problems}") from None
    items = batch.items()
    if items > settings.max_batch_items:
        raise TooLarge(f"{items} items in one batch; the limit is {settings.max_batch_items}")
    return batch, hashlib.sha256(body).hexdigest()


def _gunzip(body: bytes, limit: int) -> bytes:
    # Decompress at most limit + 1 bytes: a gzip bomb stops there instead of filling memory.
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"the gzip body is corrupt: {exc}") from None
    if len(out) > limit:
        raise TooLarge(f"the batch is over {limit} bytes after decompression")
    if not inflater.eof:
        raise InvalidRequest("the gzip body is truncated")
    return out


def check_records(job: IngestJob) -> tuple[list[dict[str, Any]], list[Alert]]:
    """Flows and alerts of a batch, checked: a sensor sends only its own records, and a bad
    record names its place in the batch. Nothing is stored unless every record is good."""
    flows = []
    for i, doc in enumerate(job.batch.flows):
        where = f"flows[{i}]"
        _own(doc, job.sensor_name, where)
        try:
            flow_id = doc["event"]["id"]
            flow_span(doc)
            for side in ("source", "destination"):
                ip = (doc.get(side) or {}).get("ip")
                if ip is not None:
                    ipaddress.ip_address(ip)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidRequest(f"{where} is not a flow document: {exc!r}") from None
        if not isinstance(flow_id, str) or not flow_id:
            raise InvalidRequest(f"{where}: event.id must be a non-empty string")
        flows.append(doc)
    for kind, docs in job.batch.records.items():
        for i, doc in enumerate(docs):
            _own(doc, job.sensor_name, f"records.{kind}[{i}]")
    alerts = []
    for i, doc in enumerate(job.batch.alerts):
        where = f"alerts[{i}]"
        _own(doc, job.sensor_name, where)
        try:
            alert = Alert.from_ecs(doc)
        except (ValueError, ValidationError) as exc:
            raise InvalidRequest(f"{where} is not an alert document: {exc}") from None
        # Triage is the analysts' work; a sensor cannot open, close or assign alerts.
        alerts.append(alert.model_copy(update={"triage": Triage()}))
    return flows, alerts


def _own(doc: dict[str, Any], sensor: str, where: str) -> None:
    observer = doc.get("observer")
    name = observer.get("name") if isinstance(observer, dict) else None
    if name != sensor:
        raise InvalidRequest(
            f"{where}: observer.name is {name!r}; sensor {sensor!r} sends only its own records"
        )


class IngestService:
    """Stores checked batches: the writer thread's work."""

    def __init__(
        self,
        db: ServiceDatabase,
        store: AlertStore,
        clock: Clock,
        metrics: Metrics,
        alert_filter: AlertFilter,
    ) -> None:
        self._db = db
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._filter = alert_filter

    def store(self, job: IngestJob) -> IngestResult:
        batch_id = job.batch.batch_id
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT digest, result FROM ingest_batches WHERE sensor_id = ? AND batch_id = ?",
                (job.sensor_id, batch_id),
            ).fetchone()
        if row is not None:
            if row[0] != job.digest:
                self._metrics.ingest_batches.labels("conflict").inc()
                raise Conflict(f"batch {batch_id!r} was stored before with different content")
            self._metrics.ingest_batches.labels("duplicate").inc()
            return IngestResult.model_validate_json(row[1]).model_copy(update={"duplicate": True})
        flows, alerts = check_records(job)
        kept = self._filter(alerts) if alerts else []
        # Flows and alerts first, then the batch id: a crash in between makes the sensor send the
        # batch again, and storing it again is harmless (flows replace, alerts upsert by id).
        if flows:
            self._store.add_flows(flows)
        for kind, docs in job.batch.records.items():
            if docs:
                self._store.add_records(kind, docs)
        if kept:
            self._store.upsert_alerts(kept)
        result = IngestResult(
            batch_id=batch_id,
            duplicate=False,
            flows=len(flows),
            records=sum(len(docs) for docs in job.batch.records.values()),
            alerts=len(kept),
            alerts_suppressed=len(alerts) - len(kept),
        )
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO ingest_batches (sensor_id, batch_id, digest, received_at, result) "
                "VALUES (?, ?, ?, ?, ?)",
                (job.sensor_id, batch_id, job.digest, micros(self._clock.now()),
                 result.model_dump_json()),
            )  # fmt: skip
        self._metrics.ingest_batches.labels("stored").inc()
        self._metrics.ingest_items.labels("flows").inc(len(flows))
        self._metrics.ingest_items.labels("records").inc(result.records)
        self._metrics.ingest_items.labels("alerts").inc(len(kept))
        return result


class IngestQueue:
    """A bounded queue of batches and the one thread that stores them."""

    def __init__(
        self, handler: Callable[[IngestJob], IngestResult], size: int, metrics: Metrics
    ) -> None:
        self._handler = handler
        self._queue: queue.Queue[tuple[IngestJob, Future[IngestResult]] | None] = queue.Queue(
            maxsize=size
        )
        self._metrics = metrics
        self._thread: threading.Thread | None = None
        self._users = 0
        self._users_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the writer; nested starts (a test client inside a running app) share it."""
        with self._users_lock:
            self._users += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="cityshield-ingest", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the writer after the batches already queued, when the last user stops it."""
        with self._users_lock:
            self._users -= 1
            if self._users > 0 or self._thread is None:
                return
            thread, self._thread = self._thread, None
        self._queue.put(None)
        thread.join(timeout=30)

    def submit(self, caller: Principal, sensor_name: str, batch: IngestBatch, digest: str
               ) -> Future[IngestResult]:  # fmt: skip
        assert caller.sensor_id is not None
        future: Future[IngestResult] = Future()
        job = IngestJob(caller.sensor_id, sensor_name, batch, digest)
        try:
            self._queue.put_nowait((job, future))
        except queue.Full:
            self._metrics.ingest_batches.labels("overloaded").inc()
            raise TooMany(
                "ingest is busy; keep the batch and send it again", retry_after=2
            ) from None
        self._metrics.ingest_queue.set(self._queue.qsize())
        return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            job, future = item
            self._metrics.ingest_queue.set(self._queue.qsize())
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._handler(job))
            except BaseException as exc:  # handed to the waiting request, which reports it
                future.set_exception(exc)

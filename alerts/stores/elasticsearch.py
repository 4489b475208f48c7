"""``ElasticsearchAlertStore``: alerts, flows, protocol records and the triage log in
Elasticsearch, for a city that outgrows one machine. The same ``AlertStore`` contract as the SQLite
store (``tests/unit/alerts/stores_contract`` runs against both).

* Writes go through the bulk helper with deterministic ids (``elasticsearch_bulk``); a batch the
  cluster cannot take waits in a bounded disk spool and is replayed before the next write
  (``elasticsearch_spool``); a document refused for good goes to the dead-letter file with the
  cluster's reason and the rest go in.
* An alert upsert reads the stored alerts (real-time ``mget``), merges with ``refresh`` and writes
  with ``if_seq_no``/``if_primary_term``: a concurrent writer makes the write fail with 409 and the
  merge is redone, so neither a detector's count nor an analyst's triage is lost.
* Analyst changes (``elasticsearch_triage``) do the same read-check-write with the alert's
  ``version`` checked first, so two analysts never overwrite each other silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import Any, Self

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from alerts.model import Alert, CloseReason, Comment, TriageStatus
from alerts.stores.base import (
    AlertPage,
    AlertQuery,
    AlertStore,
    FlowQuery,
    TriageChange,
    encode_cursor,
    flow_span,
    refresh,
)
from alerts.stores.buckets import (
    AggregateBy,
    AlertBucket,
    check_interval,
    check_size,
    check_time_span,
)
from alerts.stores.elasticsearch_bulk import BulkOutcome, ClusterUnavailable, bulk, is_outage
from alerts.stores.elasticsearch_deadletter import DeadLetterFile, reason_of
from alerts.stores.elasticsearch_indices import IndexNames, install, mapping_version, prune
from alerts.stores.elasticsearch_query import (
    ALERT_SORT,
    FLOW_SORT,
    alert_filter,
    alert_store_fields,
    buckets,
    flow_filter,
    from_micros,
    histogram_aggregation,
    micros,
    search_after,
    terms_aggregation,
)
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings, build_client
from alerts.stores.elasticsearch_spool import DiskSpool
from alerts.stores.elasticsearch_triage import TriageWriter
from alerts.stores.records import RecordKind, check_kind, record_doc_id
from cityshield.clock import Clock, SystemClock
from cityshield.errors import ConfigError, NotFoundError, StoreError
from cityshield.settings import Section

log = logging.getLogger(__name__)

_MIB = 1024 * 1024
#: Alerts read per ``mget`` and written per merge round.
_ALERT_CHUNK = 1000
#: Merge rounds before an upsert gives up on alerts that keep changing under it.
_MAX_ROUNDS = 20


class ElasticsearchAlertStore(AlertStore):
    id = "elasticsearch"
    settings_class = ElasticsearchStoreSettings

    def __init__(
        self,
        client: Elasticsearch,
        settings: ElasticsearchStoreSettings,
        clock: Clock | None = None,
    ) -> None:
        self._es = client
        self._s = settings
        self._clock = clock or SystemClock()
        self._names = IndexNames(settings.index_prefix)
        self._where = ", ".join(settings.hosts)
        self._spool = DiskSpool(settings.spool_dir, settings.spool_max_mib * _MIB)
        self.dead_letters = DeadLetterFile(
            settings.dead_letter_file, settings.dead_letter_max_mib * _MIB
        )
        self._installed = False
        self._down_until = 0.0
        self._triage = TriageWriter(client, self._names, settings.refresh, self._clock)
        try:
            self._install()
        except ClusterUnavailable as exc:
            # Writes are spooled until the cluster answers; templates are installed then.
            log.warning("Elasticsearch unreachable at start (%s); writes will be spooled", exc)

    @classmethod
    def from_settings(cls, settings: Section, clock: Clock) -> Self:
        if not isinstance(settings, ElasticsearchStoreSettings):
            raise ConfigError(f"expected ElasticsearchStoreSettings, got {type(settings).__name__}")
        return cls(build_client(settings), settings, clock)

    # ------------------------------------------------------------------------------------ alerts

    def upsert_alerts(self, alerts: Iterable[Alert]) -> int:
        incoming: dict[str, Alert] = {}
        for alert in alerts:
            seen = incoming.get(alert.id)
            incoming[alert.id] = alert if seen is None else refresh(seen, alert)
        if not incoming:
            return 0
        self._write_or_spool("alerts", list(incoming.values()), self._upsert_alerts)
        return len(incoming)

    def get_alert(self, alert_id: str) -> Alert:
        with self._errors():
            return self._triage.current(alert_id).alert

    def query_alerts(self, query: AlertQuery) -> AlertPage:
        with self._errors():
            found = self._es.search(
                index=self._names.alerts_pattern,
                query=alert_filter(query),
                sort=ALERT_SORT,
                size=query.limit + 1,
                search_after=search_after(query),
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        hits = found["hits"]["hits"]
        items = [self._alert(h["_source"]) for h in hits[: query.limit]]
        last = items[-1] if len(hits) > query.limit else None
        return AlertPage(
            items=items, next_cursor=encode_cursor(last.last_seen, last.id) if last else None
        )

    def count_alerts(self, query: AlertQuery) -> int:
        with self._errors():
            found = self._es.count(
                index=self._names.alerts_pattern,
                query=alert_filter(query),
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        return int(found["count"])

    # ------------------------------------------------------------------------------------ triage

    def update_triage(
        self,
        alert_id: str,
        *,
        status: TriageStatus | None = None,
        assignee: str | None = None,
        close_reason: CloseReason | None = None,
        tags: Iterable[str] | None = None,
        tags_add: Iterable[str] = (),
        tags_remove: Iterable[str] = (),
        expected_version: int | None = None,
        actor: str,
    ) -> Alert:
        with self._errors():
            return self._triage.update(
                alert_id,
                status=status,
                assignee=assignee,
                close_reason=close_reason,
                tags=None if tags is None else list(tags),
                tags_add=list(tags_add),
                tags_remove=list(tags_remove),
                expected_version=expected_version,
                actor=actor,
            )

    def add_comment(
        self, alert_id: str, *, author: str, text: str, expected_version: int | None = None
    ) -> Comment:
        with self._errors():
            return self._triage.comment(
                alert_id, author=author, text=text, expected_version=expected_version
            )

    def triage_history(self, alert_id: str) -> list[TriageChange]:
        with self._errors():
            return self._triage.history(alert_id)

    def append_triage_log(self, alert_id: str, changes: Sequence[TriageChange]) -> int:
        with self._errors():
            return self._triage.append(alert_id, changes)

    # --------------------------------------------------------------------------- console, records

    def aggregate_alerts(
        self,
        query: AlertQuery,
        by: AggregateBy,
        *,
        interval: timedelta | None = None,
        size: int = 10,
    ) -> list[AlertBucket]:
        where = alert_filter(query)
        if by == "time":
            interval_s = check_interval(interval)
            span = self._aggs(
                where,
                {
                    "first": {"min": {"field": "cityshield.store.first_us"}},
                    "last": {"max": {"field": "cityshield.store.first_us"}},
                },
            )
            if span["first"]["value"] is None:
                return []
            first, last = (from_micros(int(span[k]["value"])) for k in ("first", "last"))
            check_time_span(first, last, interval_s)
            aggregation = histogram_aggregation(interval_s)
        else:
            aggregation = terms_aggregation(by, check_size(size))
        raw = self._aggs(where, {"groups": aggregation})["groups"]["buckets"]
        return buckets(by, raw)

    def add_records(self, kind: RecordKind, docs: Iterable[Mapping[str, Any]]) -> int:
        kind = check_kind(kind)
        return self._add_documents(f"records:{kind}", docs)

    # ------------------------------------------------------------------------------------- flows

    def add_flows(self, docs: Iterable[Mapping[str, Any]]) -> int:
        return self._add_documents("flows", docs)

    def get_flow(self, flow_id: str) -> dict[str, Any]:
        with self._errors():
            found = self._es.search(
                index=self._names.flows_pattern,
                query={"ids": {"values": [flow_id]}},
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        hits = found["hits"]["hits"]
        if not hits:
            raise NotFoundError(f"no flow with id {flow_id!r}", where=self._where)
        return _without_store_fields(hits[0]["_source"])

    def query_flows(self, query: FlowQuery) -> list[dict[str, Any]]:
        with self._errors():
            found = self._es.search(
                index=self._names.flows_pattern,
                query=flow_filter(query),
                sort=FLOW_SORT,
                size=query.limit,
                search_after=search_after(query),
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        return [_without_store_fields(h["_source"]) for h in found["hits"]["hits"]]

    # ----------------------------------------------------------------------------------- general

    @property
    def index_prefix(self) -> str:
        return self._names.prefix

    def spooled(self) -> int:
        """Documents waiting in the spool for the cluster (no request is made)."""
        return self._spool.pending()

    def flush_spool(self) -> int:
        """Replay what waits in the spool now; returns how many documents went in.
        ``StoreError`` if the cluster is still unreachable (nothing is lost: it stays spooled)."""
        try:
            with self._errors():
                self._install()
                return self._spool.replay(self._send)
        except ClusterUnavailable as exc:
            raise StoreError(f"{exc}; documents stay spooled", where=self._where) from exc

    def stats(self) -> dict[str, int]:
        with self._errors():
            by_status = self._aggs(
                {"match_all": {}},
                {"s": {"terms": {"field": "cityshield.alert.triage.status", "size": 10}}},
            )["s"]["buckets"]
            counts = {b["key"]: int(b["doc_count"]) for b in by_status}
            total = {
                name: int(
                    self._es.count(index=pattern, ignore_unavailable=True, allow_no_indices=True)[
                        "count"
                    ]
                )
                for name, pattern in (
                    ("flows", self._names.flows_pattern),
                    ("triage_changes", self._names.triage_log),
                    ("records", self._names.all_records_pattern()),
                )
            }
            version = mapping_version(self._es, self._names)
        statuses = {f"alerts_{s.value}": counts.get(s.value, 0) for s in TriageStatus}
        return {
            "alerts": sum(statuses.values()),
            **statuses,
            **total,
            "spooled": self._spool.pending(),
            "dead_lettered": self.dead_letters.written + self.dead_letters.dropped,
            "mapping_version": version,
        }

    def close(self) -> None:
        self._es.close()

    # ---------------------------------------------------------------------------------- internal

    def _install(self) -> None:
        if self._installed:
            return
        try:
            ilm = install(self._es, self._names, self._s)
            if not ilm:
                prune(self._es, self._names, self._s, self._clock.now())
        except (TransportError, ApiError) as exc:
            if is_outage(exc):
                raise ClusterUnavailable(str(exc)) from exc
            raise StoreError(
                f"cannot install the index templates: {exc}", where=self._where
            ) from exc
        self._installed = True

    def _write_or_spool(self, kind: str, docs: Any, write: Any) -> None:
        """Replay the spool, then ``write(docs)``; on an outage, spool ``docs`` instead."""
        if time.monotonic() >= self._down_until:
            try:
                with self._errors():  # a refusal for good (credentials, a bad request) is raised
                    self._install()
                    self._spool.replay(self._send)
                    write(docs)
                return
            except ClusterUnavailable as exc:
                self._down_until = time.monotonic() + self._s.outage_pause_s
                log.warning("Elasticsearch unavailable: %s", exc)
        as_docs = (a.to_ecs() for a in docs) if kind == "alerts" else docs
        self._spool.put(kind, as_docs)

    def _send(self, kind: str, docs: list[dict[str, Any]]) -> None:
        """Write a batch read back from the spool (no spooling again: an outage stops replay)."""
        if kind == "alerts":
            self._upsert_alerts([self._alert(d) for d in docs])
        elif kind == "flows":
            self._bulk_documents("flows", docs)
        elif kind.startswith("records:"):
            self._bulk_documents(kind, docs)
        else:
            raise StoreError(f"unknown batch kind {kind!r} in the spool", where=self._where)

    def _add_documents(self, kind: str, docs: Iterable[Mapping[str, Any]]) -> int:
        added = 0
        iterator = iter(docs)
        while chunk := list(islice(iterator, self._s.bulk_chunk)):
            if time.monotonic() < self._down_until:
                added += self._spool.put(kind, chain(chunk, iterator))
                break
            try:
                with self._errors():
                    self._install()
                    self._spool.replay(self._send)
                    self._bulk_documents(kind, chunk)
                added += len(chunk)
            except ClusterUnavailable as exc:
                log.warning("Elasticsearch unavailable: %s", exc)
                self._down_until = time.monotonic() + self._s.outage_pause_s
                added += self._spool.put(kind, chain(chunk, iterator))
                break
        return added

    def _bulk_documents(self, kind: str, docs: Sequence[Mapping[str, Any]]) -> None:
        actions = []
        for position, doc in enumerate(docs):
            try:
                actions.append(self._document_action(kind, doc))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.dead_letters.add(
                    at=self._clock.now(),
                    index=kind,
                    doc_id=None,
                    status=0,
                    reason=f"document #{position} of the batch is not a {kind} document: {exc!r}",
                    doc=doc if isinstance(doc, Mapping) else None,
                )
        outcome = self._bulk(actions)
        for action in outcome.conflicts:  # index (not create) operations: not expected
            self._reject(action, 409, "version conflict")

    def _document_action(self, kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        cityshield = dict(doc.get("cityshield") or {})
        if kind == "flows":
            start, end = flow_span(doc)
            doc_id = doc["event"]["id"]
            if not isinstance(doc_id, str) or not doc_id:
                raise ValueError("event.id is not a non-empty string")
            index = self._names.flows(start)
            cityshield["store"] = {"start_us": micros(start), "end_us": micros(end)}
        else:
            record_kind = kind.removeprefix("records:")
            stamp = doc.get("@timestamp")
            at = datetime.fromisoformat(stamp) if isinstance(stamp, str) else self._clock.now()
            if at.tzinfo is None:
                raise ValueError(f"@timestamp without a time zone: {stamp!r}")
            doc_id = record_doc_id(record_kind, doc)
            index = self._names.records(record_kind, at)
        source = {**doc, "cityshield": cityshield} if cityshield else dict(doc)
        return {"_op_type": "index", "_index": index, "_id": doc_id, "_source": source}

    def _upsert_alerts(self, alerts: list[Alert]) -> None:
        for start in range(0, len(alerts), _ALERT_CHUNK):
            pending = {a.id: a for a in alerts[start : start + _ALERT_CHUNK]}
            for _ in range(_MAX_ROUNDS):
                outcome = self._bulk(self._alert_actions(list(pending.values())))
                pending = {c["_id"]: pending[c["_id"]] for c in outcome.conflicts}
                if not pending:
                    break
            else:
                raise StoreError(
                    f"{len(pending)} alerts kept changing during the upsert; try again",
                    where=self._where,
                )

    def _alert_actions(self, alerts: list[Alert]) -> list[dict[str, Any]]:
        """Merge ``alerts`` with their stored versions, guarded by the versions read."""
        try:
            found = self._es.mget(
                docs=[{"_index": self._names.alerts(a.first_seen), "_id": a.id} for a in alerts]
            )
        except (TransportError, ApiError) as exc:
            if is_outage(exc):
                raise ClusterUnavailable(str(exc)) from exc
            raise
        actions = []
        for alert, doc in zip(alerts, found["docs"], strict=True):
            if doc.get("found"):
                merged = refresh(self._alert(doc["_source"]), alert)
                actions.append(
                    {
                        "_op_type": "index",
                        "_index": doc["_index"],
                        "_id": alert.id,
                        "if_seq_no": doc["_seq_no"],
                        "if_primary_term": doc["_primary_term"],
                        "_source": alert_store_fields(merged),
                    }
                )
            else:
                actions.append(
                    {
                        "_op_type": "create",  # fails with 409 if another writer was first
                        "_index": self._names.alerts(alert.first_seen),
                        "_id": alert.id,
                        "_source": alert_store_fields(alert),
                    }
                )
        return actions

    def _bulk(self, actions: list[dict[str, Any]]) -> BulkOutcome:
        outcome = bulk(
            self._es,
            actions,
            chunk_size=self._s.bulk_chunk,
            max_retries=self._s.max_retries,
            refresh=self._s.refresh,
        )
        for action, status, error in outcome.rejected:
            self._reject(action, status, reason_of(error))
        return outcome

    def _reject(self, action: Mapping[str, Any], status: int, reason: str) -> None:
        self.dead_letters.add(
            at=self._clock.now(),
            index=str(action.get("_index", "")),
            doc_id=action.get("_id"),
            status=status,
            reason=reason,
            doc=action.get("_source"),
        )

    def _aggs(self, query: dict[str, Any], aggs: dict[str, Any]) -> dict[str, Any]:
        with self._errors():
            found = self._es.search(
                index=self._names.alerts_pattern,
                query=query,
                size=0,
                aggs=aggs,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        result: dict[str, Any] = found.get("aggregations") or {
            name: {"buckets": [], "value": None} for name in aggs
        }
        return result

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except ApiError as exc:
            raise StoreError(
                f"Elasticsearch refused the request: {exc.meta.status} {exc.message}",
                where=self._where,
            ) from exc
        except TransportError as exc:
            raise StoreError(f"cannot reach Elasticsearch: {exc}", where=self._where) from exc

    def _alert(self, doc: Mapping[str, Any]) -> Alert:
        try:
            return Alert.from_ecs(doc)
        except ValueError as exc:
            raise StoreError(f"a stored alert cannot be read: {exc}", where=self._where) from exc


def _without_store_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """A flow as it was given: without the store's own ``cityshield.store``."""
    cityshield = doc.get("cityshield")
    if isinstance(cityshield, dict):
        cityshield.pop("store", None)
        if not cityshield:
            del doc["cityshield"]
    return doc

"""Alert stores: where alerts, the flows they cite, and triage changes are kept.

* :class:`AlertStore`: the store-neutral interface, with :class:`AlertQuery`, :class:`FlowQuery`
  and :class:`AlertPage` (keyset pagination).
* :class:`AlertBucket` (``aggregate_alerts``), protocol record kinds (``add_records``).
* :class:`SqliteAlertStore`: the default, one SQLite file with versioned migrations.
* :class:`ElasticsearchAlertStore`: ECS indices in Elasticsearch, bulk ingest with a disk spool.
* :func:`open_store`: build a store by registry id (``"sqlite"``) from options.
"""

from alerts.stores.base import (
    AlertPage,
    AlertQuery,
    AlertStore,
    FlowQuery,
    RecordQuery,
    TriageChange,
    flow_cursor,
)
from alerts.stores.buckets import AggregateBy, AlertBucket
from alerts.stores.elasticsearch import ElasticsearchAlertStore
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings
from alerts.stores.records import RECORD_KINDS, RecordKind
from alerts.stores.registry import BUILTIN_STORES, open_store, store_classes
from alerts.stores.sqlite import SqliteAlertStore, SqliteStoreSettings

__all__ = [
    "BUILTIN_STORES",
    "RECORD_KINDS",
    "AggregateBy",
    "AlertBucket",
    "AlertPage",
    "AlertQuery",
    "AlertStore",
    "ElasticsearchAlertStore",
    "ElasticsearchStoreSettings",
    "FlowQuery",
    "RecordKind",
    "RecordQuery",
    "SqliteAlertStore",
    "SqliteStoreSettings",
    "TriageChange",
    "flow_cursor",
    "open_store",
    "store_classes",
]

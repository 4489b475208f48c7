"""An Elasticsearch-compatible server for tests, and stores on it.

Without ``CITYSHIELD_ES_URL``, tests run against osmem-server (PyPI ``osmem-server``), a real
server process on a free loopback port. It speaks the Elasticsearch REST API but refuses the 9.x
client's compatibility media type (``application/vnd.elasticsearch+json; compatible-with=9``), so
the client gets ``PlainJsonNode``, which sends plain ``application/json``. Production code builds
the client unchanged (``build_client`` without options). With ``CITYSHIELD_ES_URL`` set, the same
tests run against that cluster with the unchanged client.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from elastic_transport import HttpHeaders, NodeConfig, Urllib3HttpNode
from elastic_transport._models import ApiResponseMeta
from elasticsearch import Elasticsearch

from alerts.stores.elasticsearch import ElasticsearchAlertStore
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings, build_client
from cityshield.clock import Clock
from cityshield.errors import StoreError

ES_URL = os.environ.get("CITYSHIELD_ES_URL")
_COMPAT = "vnd.elasticsearch+"
_serial = itertools.count()


class PlainJsonNode(Urllib3HttpNode):
    """Sends ``application/json`` (and ``application/x-ndjson`` for bulk) instead of the
    compatibility media types, which osmem-server refuses with 406."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(config)

    def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: Any = None,
    ) -> tuple[ApiResponseMeta, bytes]:
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value and _COMPAT in value:
                    headers[name] = value.replace(_COMPAT, "").split(";")[0]
        return super().perform_request(  # type: ignore[no-any-return]
            method, target, body=body, headers=headers, request_timeout=request_timeout
        )


def client_options() -> dict[str, Any]:
    return {} if ES_URL else {"node_class": PlainJsonNode}


def start_osmem(addr: str = "127.0.0.1:0") -> Any:
    """A real osmem-server process; skips the test when the package is not installed."""
    osmem = pytest.importorskip(
        "osmem_server",
        reason="osmem-server (an Elasticsearch-compatible test server) is not installed: "
        "pip install -e '.[dev]'",
    )
    try:
        return osmem.OsmemServer.start(addr=addr, japanese=False)
    except osmem.OsmemError as exc:
        pytest.skip(f"osmem-server cannot run here: {exc}")


def stop_osmem(server: Any) -> None:
    """Stop the process and close its pipes (``OsmemServer.close`` leaves stdout open)."""
    server.close()
    for pipe in (server.process.stdin, server.process.stdout):
        if pipe is not None:
            pipe.close()


def settings_for(url: str, tmp: Path, **overrides: Any) -> ElasticsearchStoreSettings:
    prefix = f"t{next(_serial)}{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "hosts": [url],
        "index_prefix": prefix,
        "spool_dir": tmp / "spool",
        "dead_letter_file": tmp / "dead-letter.jsonl",
        "refresh": "true",
        "number_of_replicas": 0,
        "request_timeout": 10.0,
        "max_retries": 1,
        **overrides,
    }
    return ElasticsearchStoreSettings.model_validate(values)


@contextmanager
def es_store(
    url: str, tmp: Path, clock: Clock | None = None, **overrides: Any
) -> Iterator[ElasticsearchAlertStore]:
    """A store with its own index prefix; its indices and templates are deleted afterwards."""
    settings = settings_for(url, tmp, **overrides)
    store = ElasticsearchAlertStore(build_client(settings, **client_options()), settings, clock)
    try:
        yield store
    finally:
        store.close()
        cleanup(url, settings.index_prefix)


def cleanup(url: str, prefix: str) -> None:
    with Elasticsearch(url, **client_options()) as es:
        es.options(ignore_status=404).indices.delete(
            index=f"{prefix}-*", allow_no_indices=True, expand_wildcards="all"
        )
        es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")


def refresh_all(url: str, prefix: str) -> None:
    """Make every write visible to searches (for stores with ``refresh = "false"``)."""
    with Elasticsearch(url, **client_options()) as es:
        es.indices.refresh(index=f"{prefix}-*", allow_no_indices=True)


def flush_until_empty(store: ElasticsearchAlertStore, attempts: int = 5) -> int:
    """Replay the spool, again if a request timed out (a loaded test machine is slow, not down)."""
    replayed = 0
    for _ in range(attempts):
        try:
            replayed += store.flush_spool()
        except StoreError:
            continue
        if store.spooled() == 0:
            return replayed
    raise AssertionError(f"the spool still holds {store.spooled()} documents")

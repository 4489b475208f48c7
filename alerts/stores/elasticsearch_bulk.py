"""Bulk writes through the client's ``streaming_bulk`` helper, sorted into what went in, what
conflicted, and what the cluster refused for good.

Documents refused with 429 or 5xx are retried by the helper with exponential backoff; a cluster
that cannot be reached at all raises ``ClusterUnavailable`` so that the caller can spool the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout, TransportError
from elasticsearch import ApiError, Elasticsearch, helpers

#: Per-document statuses worth retrying: the cluster is busy or a shard is moving.
RETRY_STATUSES = (429, 500, 502, 503, 504)


class ClusterUnavailable(Exception):
    """The cluster could not be reached, or kept failing; the batch may be spooled and retried."""


def is_outage(exc: Exception) -> bool:
    """Whether an error means "try again later" (unreachable, busy, failing) rather than a request
    the cluster will never take (bad credentials, a bad request): only the first kind is spooled."""
    if isinstance(exc, ApiError):
        return exc.meta.status in RETRY_STATUSES
    return isinstance(exc, TransportError)


@dataclass
class BulkOutcome:
    ok: int = 0
    #: Actions refused with 409: someone wrote the document since it was read.
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: (action, status, error) of documents refused for good.
    rejected: list[tuple[dict[str, Any], int, Any]] = field(default_factory=list)


def bulk(
    client: Elasticsearch,
    actions: Iterable[dict[str, Any]],
    *,
    chunk_size: int,
    max_retries: int,
    refresh: str,
    initial_backoff: float = 0.5,
) -> BulkOutcome:
    """Send ``actions`` (helper format: ``_op_type``, ``_index``, ``_id``, ``_source``)."""
    outcome = BulkOutcome()
    by_key: dict[tuple[str, str], dict[str, Any]] = {}

    def remember(items: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        for action in items:
            by_key[(action["_index"], action["_id"])] = action
            yield action

    try:
        for ok, info in helpers.streaming_bulk(
            client,
            remember(actions),
            chunk_size=chunk_size,
            raise_on_error=False,
            max_retries=max_retries,
            initial_backoff=initial_backoff,
            max_backoff=30,
            retry_on_status=RETRY_STATUSES,
            refresh=refresh,
        ):
            if ok:
                outcome.ok += 1
                continue
            item = next(iter(info.values()))
            status = int(item.get("status", 500))
            action = by_key.get((item.get("_index", ""), item.get("_id", "")), {})
            if status in RETRY_STATUSES:
                # Still refused after the helper's retries: treat as an outage, not as bad data.
                raise ClusterUnavailable(
                    f"the cluster kept answering {status}: {item.get('error')}"
                )
            if status == 409:
                outcome.conflicts.append(action)
            else:
                outcome.rejected.append((action, status, item.get("error")))
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise ClusterUnavailable(f"cannot reach the cluster: {exc}") from exc
    except ApiError as exc:
        if exc.meta.status in RETRY_STATUSES:
            raise ClusterUnavailable(f"the cluster answered {exc.meta.status}") from exc
        raise
    except TransportError as exc:
        raise ClusterUnavailable(f"cannot reach the cluster: {exc}") from exc
    return outcome

"""Index names by time, installing the templates idempotently, and retention.

Alerts go to monthly indices by ``first_seen`` (an alert's id fixes its first_seen, so an alert
always lands in the same index); flows and protocol records to daily ones by ``@timestamp``; the
triage log to one index. Retention uses ILM where the cluster has it (Elasticsearch); elsewhere
(OpenSearch and compatible servers) the store deletes indices whose period ended more than the
retention ago, by the date in their name.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError, Elasticsearch, NotFoundError

from alerts.stores.elasticsearch_mappings import MAPPING_VERSION, templates
from alerts.stores.elasticsearch_settings import ElasticsearchStoreSettings
from alerts.stores.records import RECORD_KINDS
from cityshield.errors import StoreError

log = logging.getLogger(__name__)

_DATED = re.compile(r"^(?P<family>.+)-(?P<y>\d{4})\.(?P<m>\d{2})(?:\.(?P<d>\d{2}))?$")


class IndexNames:
    """Where each kind of document goes, for one index prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.alerts_pattern = f"{prefix}-alerts-*"
        self.flows_pattern = f"{prefix}-flows-*"
        self.triage_log = f"{prefix}-triage-log"

    def alerts(self, first_seen: datetime) -> str:
        return f"{self.prefix}-alerts-{first_seen.astimezone(UTC):%Y.%m}"

    def flows(self, at: datetime) -> str:
        return f"{self.prefix}-flows-{at.astimezone(UTC):%Y.%m.%d}"

    def records(self, kind: str, at: datetime) -> str:
        return f"{self.prefix}-{kind}-{at.astimezone(UTC):%Y.%m.%d}"

    def records_pattern(self, kind: str) -> str:
        return f"{self.prefix}-{kind}-*"

    def all_records_pattern(self) -> str:
        return ",".join(self.records_pattern(k) for k in RECORD_KINDS)


def retention_by_family(names: IndexNames, s: ElasticsearchStoreSettings) -> dict[str, int]:
    """Retention days by index family (the name without its date)."""
    days = {f"{names.prefix}-alerts": s.alerts_retention_days}
    days[f"{names.prefix}-flows"] = s.flows_retention_days
    for kind in RECORD_KINDS:
        days[f"{names.prefix}-{kind}"] = s.records_retention_days
    return days


def has_ilm(client: Elasticsearch) -> bool:
    """Whether the cluster has index lifecycle management (OpenSearch has ISM instead)."""
    try:
        client.ilm.get_status()
    except ApiError:
        return False
    return True


def install(client: Elasticsearch, names: IndexNames, s: ElasticsearchStoreSettings) -> bool:
    """Install or upgrade the ILM policies and index templates; returns whether ILM is used.

    Idempotent: a template whose recorded version is ours or newer is left alone, so that every
    start of every process does not rewrite them, and an older CityShield never downgrades them.
    """
    policies: dict[str, str] | None = None
    ilm = has_ilm(client)
    if ilm:
        policies = {}
        for family, days in retention_by_family(names, s).items():
            policy = f"{family}-retention"
            client.ilm.put_lifecycle(
                name=policy,
                policy={
                    "_meta": {"cityshield_mapping_version": MAPPING_VERSION},
                    "phases": {
                        "hot": {"actions": {}},
                        "delete": {"min_age": f"{days}d", "actions": {"delete": {}}},
                    },
                },
            )
            policies[family] = policy
    wanted = templates(
        names.prefix, shards=s.number_of_shards, replicas=s.number_of_replicas, policies=policies
    )
    for name, body in wanted.items():
        if _installed_version(client, name) >= MAPPING_VERSION:
            continue
        client.indices.put_index_template(name=name, **body)
        # Indices made under an older template get the new fields (mappings only ever grow).
        pattern = body["index_patterns"][0]
        if client.indices.exists(index=pattern, allow_no_indices=False):
            client.indices.put_mapping(
                index=pattern, properties=body["template"]["mappings"]["properties"]
            )
        log.info("index template %s installed at mapping version %d", name, MAPPING_VERSION)
    return ilm


def _installed_version(client: Elasticsearch, name: str) -> int:
    try:
        found = client.indices.get_index_template(name=name)
    except NotFoundError:
        return 0
    for item in found.get("index_templates", []):
        version = item.get("index_template", {}).get("version")
        if isinstance(version, int):
            return version
    return 0


def prune(
    client: Elasticsearch, names: IndexNames, s: ElasticsearchStoreSettings, now: datetime
) -> list[str]:
    """Delete dated indices past their retention (where ILM does not); returns their names."""
    retention = retention_by_family(names, s)
    try:
        existing = client.indices.get_alias(index=f"{names.prefix}-*", allow_no_indices=True)
    except NotFoundError:
        return []
    expired = []
    for index in existing.body if hasattr(existing, "body") else existing:
        match = _DATED.match(index)
        if match is None or match["family"] not in retention:
            continue
        end = _period_end(int(match["y"]), int(match["m"]), match["d"])
        if now - end > timedelta(days=retention[match["family"]]):
            expired.append(index)
    for index in expired:
        client.indices.delete(index=index)
        log.warning("index %s deleted: older than its retention", index)
    return expired


def _period_end(year: int, month: int, day: str | None) -> datetime:
    start = datetime(year, month, int(day) if day else 1, tzinfo=UTC)
    if day:
        return start + timedelta(days=1)
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def mapping_version(client: Elasticsearch, names: IndexNames) -> int:
    return _installed_version(client, f"{names.prefix}-alerts")


def api_problem(exc: ApiError) -> StoreError:
    return StoreError(f"Elasticsearch refused the request: {exc.meta.status} {exc.message}")


def body(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = response.body if hasattr(response, "body") else response
    return data

"""The ingest batch a sensor sends to ``POST /api/v1/ingest`` (schema version 1).

```json
{"batch_id": "dmz-tap-1/000042", "sent_at": "2026-11-22T08:00:00Z",
 "flows": [<ECS flow document>, ...], "alerts": [<ECS alert document>, ...],
 "records": {"dns": [<ECS DNS record>, ...], "tls": [...], ...}}
```

* ``batch_id``: chosen by the sensor, unique per sensor (its spool's sequence number). Sending the
  same batch again (a retry after a timeout) stores nothing twice and answers ``duplicate: true``;
  the same id with different content is a 409.
* ``flows``: ECS flow documents as ``sensors.flows.ecs.flow_documents`` makes them.
* ``records``: protocol records by kind (``dns``, ``http``, ``tls``, ``file``, ``x509``, ``ssh``),
  as ``sensors`` makes them; a record with a stored ``event.id`` replaces it.
* ``alerts``: ECS alert documents as ``Alert.to_ecs`` makes them. Their triage is ignored (triage
  is the analysts'); suppressions apply as to alerts detected here.
* Every record's ``observer.name`` must be the sending sensor's enrolled name.
* The body may be gzip-compressed (``Content-Encoding: gzip``). Limits: ``api.max_ingest_bytes``
  on the wire, ``api.max_ingest_decompressed_bytes`` after decompression, ``api.max_batch_items``
  flows, records and alerts together. When the service is busy it answers 429 with
  ``Retry-After``: keep the batch in the spool and send it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerts.stores.records import RecordKind

BATCH_SCHEMA_VERSION = 1
#: A hard cap whatever the settings say: pydantic must not even start on a million items.
HARD_MAX_ITEMS = 1_000_000

BatchId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,128}$")]

_EXAMPLE_FLOW: dict[str, Any] = {
    "@timestamp": "2026-11-22T07:59:58.120000Z",
    "event": {
        "kind": "event",
        "id": "a1b2c3d4e5f60718",
        "start": "2026-11-22T07:59:58.120000Z",
        "end": "2026-11-22T07:59:59.004000Z",
    },
    "source": {"ip": "203.0.113.200", "port": 41000},
    "destination": {"ip": "198.51.100.22", "port": 22},
    "network": {"transport": "tcp", "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    "observer": {"name": "dmz-tap-1"},
}


class IngestBatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "schema_version": 1,
                    "batch_id": "dmz-tap-1/000042",
                    "sent_at": "2026-11-22T08:00:00Z",
                    "flows": [_EXAMPLE_FLOW],
                    "alerts": [],
                }
            ]
        },
    )

    schema_version: int = Field(default=BATCH_SCHEMA_VERSION, ge=1, le=BATCH_SCHEMA_VERSION)
    batch_id: BatchId
    sent_at: datetime | None = None
    flows: list[dict[str, Any]] = Field(default_factory=list, max_length=HARD_MAX_ITEMS)
    alerts: list[dict[str, Any]] = Field(default_factory=list, max_length=HARD_MAX_ITEMS)
    records: dict[RecordKind, list[dict[str, Any]]] = Field(default_factory=dict)

    def items(self) -> int:
        return len(self.flows) + len(self.alerts) + sum(len(r) for r in self.records.values())


class IngestResult(BaseModel):
    batch_id: str
    #: The batch was stored before (a retry): nothing was stored again.
    duplicate: bool
    flows: int
    records: int = 0
    alerts: int
    #: Alerts held back by suppressions or thresholds.
    alerts_suppressed: int

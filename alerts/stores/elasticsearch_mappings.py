"""Index templates of the Elasticsearch store: ECS mappings for alerts, flows, protocol records and
the triage log, with the mapping version recorded in each template (``version`` and ``_meta``).

``dynamic: false`` everywhere: documents come from sensors that read attacker traffic, and a field
per attacker-chosen key would grow the mapping without bound (Elasticsearch's "mapping
explosion"). Unknown fields stay in ``_source``, unindexed. ``cityshield.store`` holds what only
the store needs: times in microseconds for exact sorting, keyset cursors and histograms (``date``
keeps milliseconds).
"""

from __future__ import annotations

from typing import Any

from alerts.stores.records import RECORD_KINDS

#: Bump when a template changes; start-up installs templates whose stored version is lower.
MAPPING_VERSION = 1

K: dict[str, Any] = {"type": "keyword", "ignore_above": 1024}
IP: dict[str, Any] = {"type": "ip"}
DATE: dict[str, Any] = {"type": "date"}
LONG: dict[str, Any] = {"type": "long"}
FLOAT: dict[str, Any] = {"type": "float"}
OFF: dict[str, Any] = {"type": "object", "enabled": False}


def obj(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"properties": properties}


ENDPOINT = obj(ip=IP, port=LONG, bytes=LONG, packets=LONG, domain=K)
EVENT = obj(
    id=K, kind=K, category=K, type=K, dataset=K, start=DATE, end=DATE, duration=LONG,
    severity=LONG, risk_score=FLOAT,
)  # fmt: skip
COMMON: dict[str, Any] = {
    "@timestamp": DATE,
    "ecs": obj(version=K),
    "event": EVENT,
    "message": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 4096}}},
    "tags": K,
    "source": ENDPOINT,
    "destination": ENDPOINT,
    "network": obj(
        transport=K,
        type=K,
        iana_number=K,
        community_id=K,
        bytes=LONG,
        packets=LONG,
        protocol=K,
        vlan=obj(id=K),
    ),
    "observer": obj(name=K),
    "log": obj(file=obj(path=K)),
}

ALERT_PROPERTIES: dict[str, Any] = {
    **COMMON,
    "rule": obj(id=K, name=K, version=K, description={"type": "text"}, category=K, reference=K),
    "threat": obj(framework=K, technique=obj(id=K)),
    "cityshield": obj(
        alert=obj(
            schema_version=LONG,
            count=LONG,
            version=LONG,
            aggregation_fields=K,
            evidence=obj(
                flow_ids=K,
                community_ids=K,
                capture_file=K,
                frames=OFF,
                truncated={"type": "boolean"},
            ),
            # Detector-specific values: any keys, so not indexed (see dynamic: false above).
            data=OFF,
            triage=obj(status=K, assignee=K, close_reason=K, updated_at=DATE),
            # Nested: "comments by ana containing 'phishing'" must match within one comment.
            comments={
                "type": "nested",
                "properties": {"id": K, "author": K, "text": {"type": "text"}, "at": DATE},
            },
        ),
        store=obj(first_us=LONG, last_us=LONG),
    ),
}

FLOW_PROPERTIES: dict[str, Any] = {
    **COMMON,
    "cityshield": obj(
        flow=obj(
            schema_version=LONG, conn_state=K, history=K, end_reason=K, first_frame=LONG,
            last_frame=LONG, tunnel_depth=LONG, orig=OFF, resp=OFF,
        ),
        store=obj(start_us=LONG, end_us=LONG),
    ),
}  # fmt: skip

HASH = obj(md5=K, sha1=K, sha256=K, sha512=K)
X509 = obj(
    serial_number=K, version_number=K, signature_algorithm=K, public_key_algorithm=K,
    public_key_size=LONG, not_before=DATE, not_after=DATE, alternative_names=K,
    issuer=obj(distinguished_name=K, common_name=K, organization=K, country=K),
    subject=obj(distinguished_name=K, common_name=K, organization=K, country=K),
)  # fmt: skip
TLS = obj(
    version=K, version_protocol=K, cipher=K, curve=K, established={"type": "boolean"},
    next_protocol=K, resumed={"type": "boolean"},
    client=obj(ja3=K, server_name=K, supported_protocols=K),
    server=obj(ja3s=K, issuer=K, subject=K, not_before=DATE, not_after=DATE, hash=HASH),
)  # fmt: skip

#: ECS field sets each protocol record kind adds to the common ones (``sensors.protocols.ecs``).
RECORD_PROPERTIES: dict[str, dict[str, Any]] = {
    "dns": {
        "dns": obj(
            id=K, op_code=K, response_code=K, type=K, header_flags=K, resolved_ip=IP,
            question={"properties": {"name": K, "type": K, "class": K, "registered_domain": K}},
            answers=obj(name=K, type=K, ttl=LONG, data=K),
        )
    },
    "http": {
        "http": obj(
            version=K,
            request=obj(method=K, mime_type=K, referrer=K, body=obj(bytes=LONG)),
            response=obj(status_code=LONG, mime_type=K, body=obj(bytes=LONG)),
        ),
        "url": obj(full=K, original=K, domain=K, path=K, query=K, scheme=K, port=LONG),
        "user_agent": obj(original=K, name=K, version=K),
    },
    "tls": {"tls": TLS},
    "file": {"file": obj(name=K, path=K, extension=K, mime_type=K, size=LONG, hash=HASH)},
    "x509": {"x509": X509, "tls": TLS},
    "ssh": {},
}  # fmt: skip
#: What every record kind keeps under ``cityshield`` that is worth searching.
RECORD_EXTRA = {"cityshield": obj(flow_id=K, ssh=obj(client=K, server=K), tls=obj(ja4=K))}


def _lenient(properties: dict[str, Any]) -> dict[str, Any]:
    """``properties`` with ``ignore_malformed`` on every ip, date and number field: a record's
    values come from attacker traffic, and one unparsable value must not lose the whole record
    (the value stays in ``_source``)."""
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        if "properties" in spec:
            out[name] = {**spec, "properties": _lenient(spec["properties"])}
        elif spec.get("type") in ("ip", "date", "long", "float"):
            out[name] = {**spec, "ignore_malformed": True}
        else:
            out[name] = spec
    return out


def templates(
    prefix: str, *, shards: int, replicas: int, policies: dict[str, str] | None
) -> dict[str, dict[str, Any]]:
    """Composable index templates by name. ``policies``: ILM policy name by template, where the
    cluster has ILM."""
    bodies = {
        f"{prefix}-alerts": (f"{prefix}-alerts-*", ALERT_PROPERTIES),
        f"{prefix}-flows": (f"{prefix}-flows-*", FLOW_PROPERTIES),
        f"{prefix}-triage-log": (f"{prefix}-triage-log", TRIAGE_LOG_PROPERTIES),
        **{
            f"{prefix}-{kind}": (
                f"{prefix}-{kind}-*",
                _lenient({**COMMON, **RECORD_EXTRA, **RECORD_PROPERTIES[kind]}),
            )
            for kind in RECORD_KINDS
        },
    }
    meta = {"cityshield_mapping_version": MAPPING_VERSION}
    out = {}
    for name, (pattern, properties) in bodies.items():
        settings: dict[str, Any] = {"number_of_shards": shards, "number_of_replicas": replicas}
        if policies and name in policies:
            settings["index.lifecycle.name"] = policies[name]
        out[name] = {
            "index_patterns": [pattern],
            # Above the built-in templates (priority 100-ish), so ours win for our names.
            "priority": 500,
            "version": MAPPING_VERSION,
            "_meta": meta,
            "template": {
                "settings": settings,
                "mappings": {"dynamic": False, "_meta": meta, "properties": properties},
            },
        }
    return out


TRIAGE_LOG_PROPERTIES: dict[str, Any] = {
    "alert_id": K,
    "actor": K,
    "at": DATE,
    "at_us": LONG,
    "version": LONG,
    "before": OFF,
    "after": OFF,
}

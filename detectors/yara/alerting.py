"""Findings to alerts: the rule's metadata, the matched strings (truncated, escaped), evidence.

Repeats aggregate by rule and flow (``data.flow_id``) for streams, and by rule and file hash
(``data.file.sha256``) for files: one payload served to a hundred clients is one alert with a
count and the flows as evidence. A file in a clear-text stream raises both: the stream alert says
where in the connection, the file alert names and hashes the file (folded into one, the newer
observation's data would hide the other's).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import JsonValue

from alerts.evidence import Evidence
from alerts.model import Alert, Endpoint, RuleRef, Severity
from detectors.yara.config import YaraConfig
from detectors.yara.match import MetaValue, RuleMatch
from detectors.yara.scanner import Finding
from sensors.events import FileSeen, FlowRef, StreamChunk

FLOW_AGGREGATION = ("cityshield.alert.data.flow_id",)
FILE_AGGREGATION = ("cityshield.alert.data.file.sha256",)

#: Bounds on what a rule file (attacker-controlled too) can put into an alert.
MAX_META_KEYS = 32
MAX_META_TEXT = 512
MAX_MESSAGE = 300

_TECHNIQUE = re.compile(r"\bT\d{4}(?:\.\d{3})?\b")
_TECHNIQUE_KEYS = re.compile(r"mitre|att&?ck|technique", re.IGNORECASE)
_SEVERITY_WORDS = {
    "informational": Severity.LOW,
    "info": Severity.LOW,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}


def severity_of(meta: dict[str, MetaValue]) -> Severity:
    """``severity`` by name, else signature-base's ``score`` (0-100), else medium."""
    word = meta.get("severity")
    if isinstance(word, str) and word.strip().lower() in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[word.strip().lower()]
    score = meta.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score)
    if isinstance(score, int) and not isinstance(score, bool):
        # LOKI reports scores from 40 as warnings and from 75 as alerts.
        if score >= 90:
            return Severity.CRITICAL
        if score >= 75:
            return Severity.HIGH
        if score >= 40:
            return Severity.MEDIUM
        return Severity.LOW
    return Severity.MEDIUM


def techniques_of(meta: dict[str, MetaValue]) -> list[str]:
    """ATT&CK ids from metadata keys such as ``mitre_attack``, ``attack_id``, ``technique``."""
    found: dict[str, None] = {}
    for key, value in meta.items():
        if _TECHNIQUE_KEYS.search(key) and isinstance(value, str):
            found.update(dict.fromkeys(_TECHNIQUE.findall(value)))
    return list(found)


def escape(data: bytes) -> str:
    """Printable ASCII as it is, everything else (and the backslash) as ``\\xNN``."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in data)


def _meta_json(meta: dict[str, MetaValue]) -> dict[str, JsonValue]:
    out: dict[str, JsonValue] = {}
    for key, value in list(meta.items())[:MAX_META_KEYS]:
        out[key[:64]] = value[:MAX_META_TEXT] if isinstance(value, str) else value
    return out


def _yara_data(
    finding: Finding, config: YaraConfig, engine: str, base: int
) -> dict[str, JsonValue]:
    m = finding.match
    shown = m.hits[: config.alert_strings]
    strings: list[JsonValue] = [
        {
            "id": h.identifier,
            "offset": base + h.offset,
            "length": h.length,
            "data": escape(h.data[: config.alert_string_bytes]),
        }
        for h in shown
    ]
    data: dict[str, JsonValue] = {
        "rule": m.rule,
        "namespace": m.namespace,
        "tags": list(m.tags),
        "meta": _meta_json(m.meta),
        "engine": engine,
        "strings": strings,
        "strings_total": len(m.hits),
        "strings_truncated": m.hits_truncated or len(m.hits) > len(shown),
    }
    if finding.validation is not None:
        v = finding.validation
        data["validation"] = {
            "validator": v.validator,
            "valid": v.valid,
            "rejected": v.rejected,
            "sample": list(v.sample),
        }
    return data


def _rule_ref(m: RuleMatch) -> RuleRef:
    def text(key: str) -> str:
        value = m.meta.get(key, "")
        return str(value)[:MAX_META_TEXT]

    return RuleRef(
        id=f"yara:{m.namespace}:{m.rule}",
        name=m.rule,
        version=text("version") or "1",
        description=text("description"),
        category=text("category") or "yara",
        reference=text("reference"),
    )


def _message(m: RuleMatch, where: str) -> str:
    description = str(m.meta.get("description", "")).strip()
    head = f"YARA {m.rule}" + (f": {description}" if description else "")
    return f"{head[: MAX_MESSAGE - len(where) - 4]} in {where}"


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def _endpoints(flow: FlowRef, direction: str) -> tuple[Endpoint, Endpoint]:
    orig = Endpoint(ip=flow.orig_ip, port=flow.orig_port)
    resp = Endpoint(ip=flow.resp_ip, port=flow.resp_port)
    # Like Suricata: source is the sender of the bytes that matched.
    return (orig, resp) if direction == "orig" else (resp, orig)


def stream_alert(
    finding: Finding, chunk: StreamChunk, *, observer: str, config: YaraConfig, engine: str
) -> Alert:
    m, flow = finding.match, chunk.flow
    source, destination = _endpoints(flow, chunk.direction)
    data: dict[str, JsonValue] = {
        "flow_id": flow.flow_id,
        "yara": _yara_data(finding, config, engine, chunk.offset),
        "stream": {
            "direction": chunk.direction,
            "offset": chunk.offset,
            "protocol": chunk.protocol,
        },
    }
    towards = "to server" if chunk.direction == "orig" else "to client"
    where = f"{(chunk.protocol or 'TCP').upper()} stream {towards}"
    return Alert.raised(
        rule=_rule_ref(m),
        severity=severity_of(m.meta),
        message=_message(m, where),
        observer=observer,
        first_seen=_ts(chunk.ts_ns),
        source=source,
        destination=destination,
        transport=flow.transport,
        community_id=flow.community_id or None,
        techniques=techniques_of(m.meta),
        aggregation_fields=FLOW_AGGREGATION,
        evidence=Evidence.bounded(
            flow_ids=[flow.flow_id],
            community_ids=[flow.community_id] if flow.community_id else [],
            capture_file=flow.capture or None,
            frames=sorted({chunk.first_frame, chunk.last_frame}),
        ),
        data=data,
    )


def file_json(f: FileSeen) -> dict[str, JsonValue]:
    return {
        "id": f.file_id,
        "name": f.name,
        "mime_type": f.mime_type,
        "size": f.size,
        "md5": f.md5,
        "sha1": f.sha1,
        "sha256": f.sha256,
        "source": f.source,
        "direction": f.direction,
        "truncated": f.truncated,
        "extracted": f.extracted,
    }


def file_alert(
    finding: Finding, f: FileSeen, *, observer: str, config: YaraConfig, engine: str
) -> Alert:
    m, flow = finding.match, f.flow
    source, destination = _endpoints(flow, f.direction)
    data: dict[str, JsonValue] = {
        "flow_id": flow.flow_id,
        "yara": _yara_data(finding, config, engine, 0),
        "file": file_json(f),
    }
    what = "upload" if f.direction == "orig" else "download"
    where = f"{f.source} {what} " + (repr(f.name) if f.name else f"sha256 {f.sha256[:16]}")
    return Alert.raised(
        rule=_rule_ref(m),
        severity=severity_of(m.meta),
        message=_message(m, where),
        observer=observer,
        first_seen=_ts(f.ts_ns),
        source=source,
        destination=destination,
        transport=flow.transport,
        community_id=flow.community_id or None,
        techniques=techniques_of(m.meta),
        aggregation_fields=FILE_AGGREGATION,
        evidence=Evidence.bounded(
            flow_ids=[flow.flow_id],
            community_ids=[flow.community_id] if flow.community_id else [],
            capture_file=flow.capture or None,
        ),
        data=data,
    )

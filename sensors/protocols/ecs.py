"""Content facts as ECS documents: dns.*, http.*/url.*/user_agent.*, tls.*, file.*, x509.*.

One document per fact, with the flow's endpoints (originator as ``source``), its Community ID and
``cityshield.flow_id`` to pivot to the flow record. Ids are deterministic (``event.id``) so a
replayed batch replaces its records in a store instead of doubling them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from cityshield.ids import record_id
from sensors.events import (
    CertificateSeen,
    ContentFacts,
    DnsSeen,
    FileSeen,
    FlowRef,
    HttpSeen,
    SshSeen,
    TlsSeen,
)
from sensors.flows.ecs import iso
from sensors.protocols.tls.certificate import load_certificate, warnings_as_problems
from sensors.protocols.tls.dn import openssl_dn


def _base(
    kind: str, dataset: str, doc_id: str, ts: int, flow: FlowRef, observer: str
) -> dict[str, Any]:
    return {
        "@timestamp": iso(ts),
        "event": {"id": doc_id, "kind": "event", "category": ["network"], "type": ["protocol"],
                  "dataset": dataset},
        "network": {"transport": flow.transport, "community_id": flow.community_id,
                    "protocol": kind},
        "source": {"ip": flow.orig_ip, "port": flow.orig_port},
        "destination": {"ip": flow.resp_ip, "port": flow.resp_port},
        "observer": {"name": observer},
        "log": {"file": {"path": flow.capture}},
        "cityshield": {"flow_id": flow.flow_id},
    }  # fmt: skip


def dns_document(r: DnsSeen, observer: str) -> dict[str, Any]:
    doc_id = record_id("dns", r.flow.flow_id, r.ts_ns, r.transaction_id, r.query, r.qtype)
    doc = _base("dns", "cityshield.dns", doc_id, r.ts_ns, r.flow, observer)
    dns: dict[str, Any] = {
        "id": str(r.transaction_id),
        "type": "answer" if r.rcode is not None else "query",
        "header_flags": sorted(r.flags),
    }
    if r.query is not None:
        dns["question"] = {"name": r.query, "type": r.qtype, "class": r.qclass}
    if r.rcode is not None:
        dns["response_code"] = r.rcode
    answers = [a for a in r.answers if a.section == "answer"]
    if answers:
        dns["answers"] = [{"name": a.name, "type": a.type, "ttl": a.ttl, "data": a.data}
                          for a in answers]  # fmt: skip
        dns["resolved_ip"] = [a.data for a in answers if a.type in ("A", "AAAA")]
    doc["dns"] = doc_dns = dns
    extra: dict[str, Any] = {}
    if r.rtt_ns is not None:
        extra["rtt_seconds"] = r.rtt_ns / 1e9
    others = [a for a in r.answers if a.section != "answer"]
    if others:
        extra["records"] = [{"section": a.section, "name": a.name, "type": a.type, "ttl": a.ttl,
                             "data": a.data} for a in others]  # fmt: skip
    if r.edns_udp_size is not None:
        extra["edns"] = {"udp_size": r.edns_udp_size, "do": r.edns_do,
                         "options": list(r.edns_options)}  # fmt: skip
    if extra:
        doc["cityshield"]["dns"] = extra
    del doc_dns
    return doc


def http_document(r: HttpSeen, observer: str) -> dict[str, Any]:
    doc_id = record_id("http", r.flow.flow_id, r.trans_depth, r.ts_ns)
    doc = _base("http", "cityshield.http", doc_id, r.ts_ns, r.flow, observer)
    http: dict[str, Any] = {"request": {"body": {"bytes": r.request_body_len}},
                            "response": {"body": {"bytes": r.response_body_len}}}  # fmt: skip
    if r.version:
        http["version"] = r.version
    if r.method:
        http["request"]["method"] = r.method
    if r.referrer:
        http["request"]["referrer"] = r.referrer
    if r.status is not None:
        http["response"]["status_code"] = r.status
    doc["http"] = http
    if r.uri is not None:
        url: dict[str, Any] = {"original": r.uri}
        parts = urlsplit(r.uri) if r.uri.startswith(("/", "http://", "https://")) else None
        if parts is not None:
            url["path"] = parts.path
            if parts.query:
                url["query"] = parts.query
        if r.host:
            url["domain"] = r.host.rsplit(":", 1)[0] if not r.host.startswith("[") else r.host
        doc["url"] = url
    if r.user_agent:
        doc["user_agent"] = {"original": r.user_agent}
    doc["cityshield"]["http"] = {
        "trans_depth": r.trans_depth,
        "host": r.host,
        "reason": r.reason,
        "request_headers": [list(h) for h in r.request_headers],
        "response_headers": [list(h) for h in r.response_headers],
        "request_files": list(r.request_files),
        "response_files": list(r.response_files),
        "problems": list(r.problems),
    }
    return doc


def file_document(f: FileSeen, observer: str) -> dict[str, Any]:
    doc = _base("file", "cityshield.file", f.file_id, f.ts_ns, f.flow, observer)
    file: dict[str, Any] = {
        "size": f.size,
        "hash": {"md5": f.md5, "sha1": f.sha1, "sha256": f.sha256},
    }
    if f.name:
        file["name"] = f.name
    if f.mime_type:
        file["mime_type"] = f.mime_type
    if f.extracted:
        file["path"] = f.extracted
    doc["file"] = file
    doc["cityshield"]["file"] = {"source": f.source, "direction": f.direction,
                                 "truncated": f.truncated}  # fmt: skip
    if f.missing_bytes:
        doc["cityshield"]["file"]["missing_bytes"] = f.missing_bytes
    return doc


_TLS_VERSIONS = {"SSLv3": ("ssl", "3.0"), "TLSv10": ("tls", "1.0"), "TLSv11": ("tls", "1.1"),
                 "TLSv12": ("tls", "1.2"), "TLSv13": ("tls", "1.3")}  # fmt: skip


def tls_document(r: TlsSeen, observer: str) -> dict[str, Any]:
    doc_id = record_id("tls", r.flow.flow_id, r.ts_ns)
    doc = _base("tls", "cityshield.tls", doc_id, r.ts_ns, r.flow, observer)
    tls: dict[str, Any] = {"established": r.established, "resumed": r.resumed, "client": {},
                           "server": {}}  # fmt: skip
    if r.version in _TLS_VERSIONS:
        tls["version_protocol"], tls["version"] = _TLS_VERSIONS[r.version]
    if r.server_name:
        tls["client"]["server_name"] = r.server_name
    if r.alpn:
        tls["client"]["supported_protocols"] = list(r.alpn)
    if r.alpn_selected:
        tls["next_protocol"] = r.alpn_selected
    if r.cipher:
        tls["cipher"] = r.cipher
    if r.ja3:
        tls["client"]["ja3"] = r.ja3
    if r.ja3s:
        tls["server"]["ja3s"] = r.ja3s
    if r.certificate_sha256:
        tls["server"]["hash"] = {"sha256": r.certificate_sha256[0].upper()}
    if r.client_certificate_sha256:
        tls["client"]["hash"] = {"sha256": r.client_certificate_sha256[0].upper()}
    doc["tls"] = tls
    doc["cityshield"]["tls"] = {
        "ja4": r.ja4,
        "version": r.version,
        "client_version": r.client_version,
        "chain_sha256": list(r.certificate_sha256),
        "client_chain_sha256": list(r.client_certificate_sha256),
        "last_alert": r.last_alert,
        "problems": list(r.problems),
    }
    return doc


def x509_document(c: CertificateSeen, observer: str) -> dict[str, Any]:
    doc_id = record_id("x509", c.flow.flow_id, c.role, c.position, c.sha256)
    doc = _base("x509", "cityshield.x509", doc_id, c.ts_ns, c.flow, observer)
    problems: list[str] = []
    cert = load_certificate(c.der, problems)
    # A certificate that does not parse is still a fact: its hash and where it was seen.
    if cert is None:
        doc["x509"] = {"parse_error": problems[-1]}
    else:
        with warnings_as_problems(problems):
            doc["x509"] = x509_fields(cert, problems)
    doc["tls"] = {c.role: {"hash": {"sha256": c.sha256.upper()}}}
    doc["cityshield"]["x509"] = {"position": c.position, "chain_length": c.chain_length,
                                 "server_name": c.server_name, "role": c.role,
                                 "problems": problems}  # fmt: skip
    return doc


#: What reading a field of a hostile certificate can raise: cryptography parses lazily, so a
#: malformed subject or extension only fails when it is read.
_CERT_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion)


def x509_fields(cert: x509.Certificate, problems: list[str] | None = None) -> dict[str, Any]:
    """ECS ``x509.*`` fields of a parsed certificate; a field that does not parse is left out
    and its error appended to ``problems``."""
    out: dict[str, Any] = {}
    errors: list[str] = [] if problems is None else problems

    def read(name: str, get: Callable[[], Any]) -> None:
        try:
            out[name] = get()
        except _CERT_ERRORS as exc:
            errors.append(f"{name}: {exc}"[:200])

    read("serial_number", lambda: format(cert.serial_number, "X"))
    read("subject", lambda: _name(cert.subject))
    read("issuer", lambda: _name(cert.issuer))
    read("not_before", lambda: _when(cert.not_valid_before_utc))
    read("not_after", lambda: _when(cert.not_valid_after_utc))
    read("version_number", lambda: str(cert.version.value + 1))
    with contextlib.suppress(*_CERT_ERRORS):
        out["signature_algorithm"] = cert.signature_algorithm_oid._name
    try:
        key = cert.public_key()
        out["public_key_algorithm"], size = _key(key)
        if size:
            out["public_key_size"] = size
    except _CERT_ERRORS:  # keys cryptography cannot load
        pass
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out["alternative_names"] = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    except _CERT_ERRORS as exc:
        errors.append(f"extensions: {exc}"[:200])
    return out


def _name(name: x509.Name) -> dict[str, Any]:
    part: dict[str, Any] = {"distinguished_name": openssl_dn(name)}
    for oid, field in ((x509.NameOID.COMMON_NAME, "common_name"),
                       (x509.NameOID.ORGANIZATION_NAME, "organization"),
                       (x509.NameOID.COUNTRY_NAME, "country")):  # fmt: skip
        values = [str(a.value) for a in name.get_attributes_for_oid(oid)]
        if values:
            part[field] = values
    return part


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _key(key: object) -> tuple[str, int | None]:
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, None


def ssh_document(r: SshSeen, observer: str) -> dict[str, Any]:
    doc = _base(
        "ssh", "cityshield.ssh", record_id("ssh", r.flow.flow_id), r.ts_ns, r.flow, observer
    )
    doc["cityshield"]["ssh"] = {"client": r.client_banner, "server": r.server_banner}
    return doc


def content_documents(facts: ContentFacts, observer: str) -> dict[str, list[dict[str, Any]]]:
    """Documents by record kind (``dns``, ``http``, ``file``, ``tls``, ``x509``, ``ssh``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    if facts.dns:
        out["dns"] = [dns_document(r, observer) for r in facts.dns]
    if facts.http:
        out["http"] = [http_document(r, observer) for r in facts.http]
    if facts.files:
        out["file"] = [file_document(r, observer) for r in facts.files]
    if facts.tls:
        out["tls"] = [tls_document(r, observer) for r in facts.tls]
    if facts.certificates:
        out["x509"] = [x509_document(r, observer) for r in facts.certificates]
    if facts.ssh:
        out["ssh"] = [ssh_document(r, observer) for r in facts.ssh]
    return out

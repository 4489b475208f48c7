"""Observables of an alert: its addresses, and the domains, hashes and certificate fingerprints
its detector put in ``Alert.data`` (found by ECS-like key names, within a bounded walk)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Literal

from pydantic import JsonValue

from alerts.model import Alert

ObservableKind = Literal["ip", "domain", "hash", "certificate"]

_DOMAIN_KEYS = frozenset(
    {"domain", "sni", "server_name", "host", "hostname", "query", "qname", "registered_domain"}
)
_HASH_KEYS = frozenset({"md5", "sha1", "sha256", "sha512", "hash", "fingerprint", "ja3", "ja4"})
_CERT_HINTS = ("x509", "certificate", "cert", "tls")
_DOMAIN = re.compile(
    r"^(?=.{4,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$"
)
_HEX = re.compile(r"^[0-9a-f]{32}$|^[0-9a-f]{40}$|^[0-9a-f]{64}$|^[0-9a-f]{128}$")
#: Bounds on the walk: ``data`` is a detector's, but shaped by what an attacker sent.
MAX_NODES = 2000
MAX_DEPTH = 8
MAX_PER_ALERT = 200


def observables(alert: Alert) -> list[tuple[ObservableKind, str]]:
    found: dict[tuple[ObservableKind, str], None] = {}
    for endpoint in (alert.source, alert.destination):
        if endpoint is not None:
            found[("ip", endpoint.ip)] = None
    for item in _walk(alert.data, ()):
        found[item] = None
        if len(found) >= MAX_PER_ALERT:
            break
    return list(found)


def _walk(value: JsonValue, path: tuple[str, ...]) -> Iterator[tuple[ObservableKind, str]]:
    budget = [MAX_NODES]

    def walk(node: JsonValue, path: tuple[str, ...]) -> Iterator[tuple[ObservableKind, str]]:
        budget[0] -= 1
        if budget[0] < 0 or len(path) > MAX_DEPTH:
            return
        if isinstance(node, dict):
            for key, child in node.items():
                yield from walk(child, (*path, key.lower()))
        elif isinstance(node, list):
            for child in node:
                yield from walk(child, path)
        elif isinstance(node, str) and path:
            found = _classify(path, node.strip().lower().rstrip("."))
            if found is not None:
                yield found

    yield from walk(value, path)


def _classify(path: tuple[str, ...], text: str) -> tuple[ObservableKind, str] | None:
    key = path[-1]
    if key in {"ip", "address"} or key.endswith("_ip"):
        try:
            return "ip", str(ipaddress.ip_address(text))
        except ValueError:
            return None
    # ECS ``dns.question.name`` is a domain; other ``name`` keys are not.
    named = key == "name" and len(path) > 1 and path[-2] == "question"
    if (key in _DOMAIN_KEYS or named) and _DOMAIN.match(text):
        return "domain", text
    plain = text.replace(":", "")
    if key in _HASH_KEYS and _HEX.match(plain):
        certificate = any(hint in part for part in path for hint in _CERT_HINTS)
        return ("certificate" if certificate and len(plain) == 64 else "hash"), plain
    return None

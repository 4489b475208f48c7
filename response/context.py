"""What templates see: the alert as plain data, its observables, the case, the inputs, the
results of earlier steps, and the run. Plain JSON data only, never objects."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from cityshield.errors import ActionError
from response.models import StepRecord, StepState
from response.schema import InputSpec, InputType, Playbook

#: Keys in an alert's data whose values are domain names, URLs, hashes or user names.
_DOMAIN_KEYS = {"domain", "host", "server_name", "sni", "name", "query", "registered_domain"}
_HASH_KEYS = {"sha256", "sha1", "md5"}
_USER_KEYS = {"user", "username", "account"}
_URL_KEYS = {"url", "uri", "original"}
MAX_OBSERVABLES = 100
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$")


def observables(alert: Mapping[str, Any] | None) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"ip": [], "domain": [], "hash": [], "user": [], "url": []}
    if not alert:
        return found
    for side in ("source", "destination"):
        endpoint = alert.get(side)
        if isinstance(endpoint, Mapping) and isinstance(endpoint.get("ip"), str):
            _add(found["ip"], endpoint["ip"])
    _walk(alert.get("data"), found, 0)
    return found


def _add(values: list[str], value: str) -> None:
    if value and value not in values and len(values) < MAX_OBSERVABLES:
        values.append(value)


def _walk(value: Any, found: dict[str, list[str]], depth: int, key: str = "") -> None:
    if depth > 8:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            _walk(v, found, depth + 1, str(k).lower())
    elif isinstance(value, list):
        for v in value[:MAX_OBSERVABLES]:
            _walk(v, found, depth + 1, key)
    elif isinstance(value, str) and len(value) <= 2048:
        if key in _HASH_KEYS:
            _add(found["hash"], value)
        elif key in _USER_KEYS:
            _add(found["user"], value)
        elif key in _URL_KEYS:
            _add(found["url"], value)
        elif key in _DOMAIN_KEYS and "." in value and " " not in value:
            _add(found["domain"], value.rstrip(".").lower())
        elif key == "ip":
            with contextlib.suppress(ValueError):
                _add(found["ip"], str(ipaddress.ip_address(value)))


def resolve_inputs(playbook: Playbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: given values checked against their types, defaults for the rest."""
    unknown = set(given) - set(playbook.inputs)
    if unknown:
        raise ActionError(f"playbook {playbook.id} has no input(s) {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, spec in playbook.inputs.items():
        if name in given:
            out[name] = _typed(name, spec, given[name])
        elif spec.required:
            raise ActionError(f"input {name!r} is required")
        else:
            out[name] = spec.default
    return out


def _typed(name: str, spec: InputSpec, value: Any) -> Any:
    try:
        match spec.type:
            case InputType.INTEGER:
                return int(value)
            case InputType.NUMBER:
                return float(value)
            case InputType.BOOLEAN:
                if isinstance(value, str):
                    return value.lower() in ("1", "true", "yes", "on")
                return bool(value)
            case InputType.IP:
                return str(ipaddress.ip_address(str(value)))
            case InputType.DOMAIN:
                text = str(value).strip().rstrip(".").lower()
                if not _DOMAIN.match(text):
                    raise ValueError(f"{text[:100]!r} is not a domain name")
                return text
            case InputType.LIST:
                return list(value) if not isinstance(value, str) else value.split(",")
            case _:
                text = str(value)
                if len(text) > 10_000:
                    raise ValueError("longer than 10000 characters")
                return text
    except (TypeError, ValueError) as exc:
        raise ActionError(f"input {name!r} is not a valid {spec.type.value}: {exc}") from None


def template_context(
    *, run: Mapping[str, Any], steps: list[StepRecord], item: Any = None
) -> dict[str, Any]:
    done: dict[str, Any] = {}
    for record in steps:
        entry = done.setdefault(record.step_id, {"state": record.state.value, "results": []})
        entry["state"] = record.state.value
        if record.state is StepState.SUCCEEDED:
            entry["result"] = record.result
            entry["results"].append(record.result)
    alert = run.get("alert")
    return {
        "alert": alert,
        "observables": observables(alert),
        "case": {**(run.get("case") or {}), "id": run.get("case_id")},
        "inputs": run.get("inputs") or {},
        "steps": done,
        "item": item,
        "run": {
            "id": run["id"],
            "dry_run": run["dry_run"],
            "started_by": run["started_by"],
            "playbook": run["playbook_id"],
        },
    }

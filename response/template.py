"""Templates in playbooks: ``{{ alert.source.ip }}``, a path into plain data and nothing else.

Written by hand rather than with Jinja2's sandbox because a playbook only ever needs to read
values: a path language has no loops, calls, attributes or filters, so a hostile playbook cannot
execute code or spin the CPU, and ``validate`` can check every reference statically. Paths are
dotted keys and list indexes (``steps.collect.result.files.0.sha256``). A string that is exactly
one template keeps the value's type (a list stays a list); a template inside text is replaced by
the value as text. A missing value is None (empty inside text). Output is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

#: What a template may refer to at its root.
ROOTS = frozenset({"alert", "case", "inputs", "steps", "item", "observables", "run"})
#: Largest rendered string, and deepest structure rendered.
MAX_RENDERED = 64 * 1024
MAX_DEPTH = 16

_TEMPLATE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z0-9_-]+))*$")


class TemplateError(ValueError):
    pass


def references(value: Any) -> list[str]:
    """Every path referenced anywhere in ``value`` (strings, lists, dicts)."""
    found: list[str] = []
    if isinstance(value, str):
        found.extend(m.group(1) for m in _TEMPLATE.finditer(value))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(references(item))
    return found


def check(value: Any) -> list[str]:
    """Problems with the templates in ``value``, one message each."""
    problems = []
    if isinstance(value, str) and ("{{" in value or "}}" in value):
        stripped = _TEMPLATE.sub("", value)
        if "{{" in stripped or "}}" in stripped:
            problems.append(f"unbalanced braces in template {value!r}")
    for path in references(value):
        if not _PATH.match(path):
            problems.append(f"{{{{ {path} }}}} is not a path like alert.source.ip")
        elif path.split(".")[0] not in ROOTS:
            roots = ", ".join(sorted(ROOTS))
            problems.append(f"{{{{ {path} }}}} starts with an unknown name; use one of {roots}")
    if isinstance(value, list):
        for item in value:
            problems.extend(p for p in check(item) if p not in problems)
    elif isinstance(value, dict):
        for item in value.values():
            problems.extend(p for p in check(item) if p not in problems)
    return problems


def lookup(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def render(value: Any, context: Mapping[str, Any], depth: int = 0) -> Any:
    """``value`` with every template replaced from ``context`` (plain data only)."""
    if depth > MAX_DEPTH:
        raise TemplateError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return _render_text(value, context)
    if isinstance(value, list):
        return [render(v, context, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context, depth + 1) for k, v in value.items()}
    return value


def _render_text(text: str, context: Mapping[str, Any]) -> Any:
    whole = _TEMPLATE.fullmatch(text.strip())
    if whole is not None:
        return _checked(whole.group(1), context)

    def one(match: re.Match[str]) -> str:
        value = _checked(match.group(1), context)
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    rendered = _TEMPLATE.sub(one, text)
    if len(rendered) > MAX_RENDERED:
        raise TemplateError(f"renders to more than {MAX_RENDERED} characters")
    return rendered


def _checked(path: str, context: Mapping[str, Any]) -> Any:
    if not _PATH.match(path) or path.split(".")[0] not in ROOTS:
        raise TemplateError(f"{{{{ {path} }}}} is not a path this engine knows")
    value = lookup(context, path)
    if isinstance(value, str) and len(value) > MAX_RENDERED:
        raise TemplateError(f"{{{{ {path} }}}} is longer than {MAX_RENDERED} characters")
    return value

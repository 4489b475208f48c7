"""Where the engine's record of decisions and steps goes beyond the run database: the API hands
in an ``Auditor`` writing to its append-only audit log."""

from __future__ import annotations

from typing import Any, Protocol

#: The name the engine's own entries carry (steps it ran, approvals that expired).
ENGINE = "engine"


class Auditor(Protocol):
    def record(
        self,
        actor: str,
        role: str,
        action: str,
        object_type: str,
        object_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None: ...


class NullAuditor:
    """For dry runs in tests and tools without a service database: the run database's events
    table still has every entry."""

    def record(
        self,
        actor: str,
        role: str,
        action: str,
        object_type: str,
        object_id: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        return None

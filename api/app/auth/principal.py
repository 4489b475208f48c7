"""``Principal``: who is calling, as the routes and the audit log see them."""

from __future__ import annotations

from dataclasses import dataclass

from api.app.auth.roles import Role


@dataclass(frozen=True, slots=True)
class Principal:
    #: A person's user name, or ``sensor:<name>`` for a sensor's credential.
    name: str
    role: Role
    token_id: str | None = None
    user_id: int | None = None
    sensor_id: str | None = None


#: Changes made from the command line on the server itself (``cityshield users ...``).
CLI = Principal(name="cli", role=Role.ADMIN)

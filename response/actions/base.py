"""``Action``: the base class of every playbook action.

An action has a dotted ``id``, a pydantic ``Params`` model (secrets as ``SecretStr``, which the
run record keeps as ``**********``), says whether running it twice is harmless (``idempotent``:
the engine re-runs such a step after a crash, and never re-runs any other), describes what it
would do (``plan``, for dry runs, touching nothing) and does it (``run``). I/O happens here and
nowhere else in ``response``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, JsonValue

from cityshield.clock import Clock

Result = dict[str, JsonValue]


class ActionParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ActionContext:
    run_id: str
    step_key: str
    playbook_id: str
    #: Who started the run (a person, ``cli``, or ``trigger:<alert id>``).
    started_by: str
    clock: Clock
    #: Seconds this try may take; actions pass it to their clients.
    timeout: float
    alert: dict[str, Any] | None = None
    case_id: str | None = None
    #: Whether the run was cancelled meanwhile: long actions (``wait``) look and stop early.
    cancelled: Callable[[], bool] = field(default=lambda: False)
    extra: dict[str, Any] = field(default_factory=dict)


class Action(ABC):
    id: ClassVar[str]
    Params: ClassVar[type[ActionParams]]
    idempotent: ClassVar[bool]
    summary: ClassVar[str]

    @abstractmethod
    def plan(self, params: Any) -> str:
        """What ``run`` would do with these parameters, in one sentence."""

    @abstractmethod
    def run(self, params: Any, ctx: ActionContext) -> Result:
        """Do it; raise ``cityshield.errors.ActionError`` with a clear message on failure."""

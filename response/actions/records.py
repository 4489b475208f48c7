"""``case.create``, ``case.update`` and ``alert.update``: the SOC's own records.

Cases live in the API's service database; the API hands in a ``CaseDesk`` (``response`` never
imports ``api``). Alerts are changed through the alert store, in the name of the run.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import Field

from alerts.model import CloseReason, Severity, Tag, TriageStatus
from alerts.stores.base import AlertStore
from cityshield.errors import ActionError, CityShieldError
from response.actions.base import Action, ActionContext, ActionParams, Result


class CaseDesk(Protocol):
    def create_case(
        self,
        *,
        title: str,
        description: str,
        severity: Severity | None,
        alert_ids: list[str],
        actor: str,
    ) -> dict[str, Any]: ...

    def update_case(
        self, case_id: str, *, changes: dict[str, Any], comment: str | None, actor: str
    ) -> dict[str, Any]: ...


class CaseCreateParams(ActionParams):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)
    severity: Severity | None = None
    alert_ids: list[str] = Field(default_factory=list, max_length=100)


class CaseUpdateParams(ActionParams):
    case_id: str = Field(min_length=1, max_length=64)
    status: str | None = Field(None, pattern=r"^(open|in_progress|resolved|closed)$")
    assignee: str | None = Field(None, max_length=200)
    comment: str | None = Field(None, max_length=10_000)


class AlertUpdateParams(ActionParams):
    alert_id: str = Field(min_length=1, max_length=200)
    status: TriageStatus | None = None
    close_reason: CloseReason | None = None
    tags_add: list[Tag] = Field(default_factory=list, max_length=16)
    comment: str | None = Field(None, max_length=4000)


def _desk(desk: CaseDesk | None) -> CaseDesk:
    if desk is None:
        raise ActionError("cases are kept by the API service: no case desk here")
    return desk


class CaseCreateAction(Action):
    id = "case.create"
    Params = CaseCreateParams
    idempotent = False
    summary = "Open a case"

    def __init__(self, desk: CaseDesk | None) -> None:
        self.desk = desk

    def plan(self, params: CaseCreateParams) -> str:
        return f"open case {params.title!r} with {len(params.alert_ids)} alert(s)"

    def run(self, params: CaseCreateParams, ctx: ActionContext) -> Result:
        try:
            case = _desk(self.desk).create_case(
                title=params.title,
                description=params.description,
                severity=params.severity,
                alert_ids=params.alert_ids,
                actor=f"playbook:{ctx.run_id}",
            )
        except CityShieldError as exc:
            raise ActionError(f"opening a case: {exc}") from None
        return {"case_id": case["id"], "title": case["title"]}


class CaseUpdateAction(Action):
    id = "case.update"
    Params = CaseUpdateParams
    idempotent = False
    summary = "Change a case (status, assignee) and add a comment"

    def __init__(self, desk: CaseDesk | None) -> None:
        self.desk = desk

    def plan(self, params: CaseUpdateParams) -> str:
        return f"update case {params.case_id}"

    def run(self, params: CaseUpdateParams, ctx: ActionContext) -> Result:
        changes = params.model_dump(exclude_none=True, exclude={"case_id", "comment"})
        try:
            case = _desk(self.desk).update_case(
                params.case_id,
                changes=changes,
                comment=params.comment,
                actor=f"playbook:{ctx.run_id}",
            )
        except CityShieldError as exc:
            raise ActionError(f"updating case {params.case_id}: {exc}") from None
        return {"case_id": case["id"], "status": case.get("status")}


class AlertUpdateAction(Action):
    id = "alert.update"
    Params = AlertUpdateParams
    idempotent = True  # the same triage and tags twice end the same; a comment is added once
    summary = "Change an alert's triage (status, tags) and comment on it"

    def __init__(self, store: AlertStore | None) -> None:
        self.store = store

    def plan(self, params: AlertUpdateParams) -> str:
        return f"update alert {params.alert_id}"

    def run(self, params: AlertUpdateParams, ctx: ActionContext) -> Result:
        if self.store is None:
            raise ActionError("no alert store here")
        actor = f"playbook:{ctx.run_id}"
        try:
            alert = self.store.update_triage(
                params.alert_id,
                status=params.status,
                close_reason=params.close_reason,
                tags_add=params.tags_add,
                actor=actor,
            )
            marker = f"[{ctx.run_id}/{ctx.step_key}] "
            if params.comment and not any(c.text.startswith(marker) for c in alert.comments):
                self.store.add_comment(params.alert_id, author=actor, text=marker + params.comment)
        except CityShieldError as exc:
            raise ActionError(f"updating alert {params.alert_id}: {exc}") from None
        except ValueError as exc:
            raise ActionError(f"updating alert {params.alert_id}: {exc}") from None
        return {"alert_id": params.alert_id, "status": alert.triage.status.value}

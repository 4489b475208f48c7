"""``ResponseApi``: the response service and its engine thread, built from ``[response]`` with
the API's audit log, cases, alert store and PKI registry handed in through small adapters (the
``response`` package never imports ``api``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.model import Severity
from alerts.stores.base import AlertStore
from api.app.audit.log import AuditLog
from api.app.auth.principal import Principal
from api.app.auth.roles import Role
from api.app.cases.models import CaseCreate, CaseUpdate
from api.app.cases.service import CaseService
from api.app.config import ApiSettings
from cityshield.clock import Clock
from cityshield.errors import ConfigError, NotFoundError
from response.actions.pki import CertificateRevoker
from response.actions.registry import build_actions
from response.engine import ResponseEngine
from response.service import ResponseService, load_library
from response.settings import ResponseSettings
from response.store import RunStore
from response.validation import PlaybookIssue
from response.worker import ResponseWorker

#: The repository's playbooks (an editable install or a checkout).
DEFAULT_PLAYBOOKS = Path(__file__).resolve().parents[3] / "playbooks"


class AuditAdapter:
    """The engine's entries in the API's append-only audit log."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    def record(
        self, actor: str, role: str, action: str, object_type: str, object_id: str,
        before: dict[str, Any] | None, after: dict[str, Any] | None,
    ) -> None:  # fmt: skip
        try:
            principal_role = Role(role)
        except ValueError:
            principal_role = Role.ADMIN  # the engine and triggers act with the service's authority
        principal = Principal(name=actor, role=principal_role)
        self.audit.record(principal, action, object_type, object_id, before, after)


class CaseDeskAdapter:
    """``case.create``/``case.update`` through the API's case service (audited there too)."""

    def __init__(self, cases: CaseService) -> None:
        self.cases = cases

    def create_case(
        self, *, title: str, description: str, severity: Severity | None, alert_ids: list[str],
        actor: str,
    ) -> dict[str, Any]:  # fmt: skip
        body = CaseCreate(title=title, description=description, severity=severity,
                          alert_ids=alert_ids)  # fmt: skip
        return self.cases.create(Principal(name=actor, role=Role.RESPONDER), body).model_dump(
            mode="json"
        )

    def get_case(self, case_id: str) -> dict[str, Any]:
        """The case as the API shows it, without comments (what templates may read)."""
        return self.cases.get(case_id).model_dump(mode="json", exclude={"comments"})

    def update_case(
        self, case_id: str, *, changes: dict[str, Any], comment: str | None, actor: str
    ) -> dict[str, Any]:
        who = Principal(name=actor, role=Role.RESPONDER)
        case = self.cases.update(who, case_id, CaseUpdate.model_validate(changes))
        if comment:
            self.cases.comment(who, case_id, comment)
        return case.model_dump(mode="json")


@dataclass
class ResponseApi:
    service: ResponseService
    worker: ResponseWorker
    issues: list[PlaybookIssue]
    desk: CaseDeskAdapter

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
        self.service.store.close()


def build_response_api(
    settings: ResponseSettings,
    *,
    store: AlertStore,
    audit: AuditLog,
    cases: CaseService,
    clock: Clock,
    revoker: CertificateRevoker | None = None,
    ring: Callable[[str], Path | None] | None = None,
) -> ResponseApi:
    """The service over ``settings.db``; a playbook folder with problems still loads the good
    playbooks (the problems are listed at ``GET /api/v1/response/playbooks``)."""
    folder = settings.playbooks_dir or DEFAULT_PLAYBOOKS
    try:
        playbooks, issues = load_library(folder)
    except ConfigError:
        if settings.playbooks_dir is not None:
            raise
        playbooks, issues = {}, []  # an installed package without the repository's playbooks
    desk = CaseDeskAdapter(cases)
    actions = build_actions(settings, store=store, revoker=revoker, cases=desk, ring=ring)
    runs = RunStore(settings.db)
    engine = ResponseEngine(runs, actions, AuditAdapter(audit), clock)
    service = ResponseService(runs, engine, playbooks, clock)
    worker = ResponseWorker(
        service,
        poll_seconds=settings.poll_seconds,
        max_queued=settings.max_queued_triggers,
        auto_start=settings.auto_start,
        is_stored=lambda alert_id: _stored(store, alert_id),
    )
    return ResponseApi(service, worker, issues, desk)


def _stored(store: AlertStore, alert_id: str) -> bool:
    try:
        store.get_alert(alert_id)
    except NotFoundError:
        return False
    return True


def default_response_settings(api: ApiSettings) -> ResponseSettings:
    """For apps built without ``[response]`` (tests, tools): the run database next to the
    service database (in memory with it), triggers off, and no action that touches this machine's
    firewall or resolver or reaches outside it (a test's generated requests must never block an
    address on the machine running the tests)."""
    quiet = {"auto_start": False, "disabled_actions": list(UNCONFIGURED_OFF)}
    if api.service_db == ":memory:":
        return ResponseSettings(db=":memory:", **quiet)
    next_to = Path(api.service_db)
    return ResponseSettings(
        db=str(next_to.with_name("response.db")),
        evidence_dir=next_to.with_name("response-evidence"),
        **quiet,
    )


#: Off unless ``[response]`` is given.
UNCONFIGURED_OFF = (
    "firewall.block_ip",
    "firewall.unblock_ip",
    "dns.sinkhole_domain",
    "pki.revoke_certificate",
    "notify.email",
    "notify.webhook",
    "http.request",
)

"""``Services``: the objects the routes use, built once by the app factory and kept on
``app.state`` (no module-level singletons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alerts.stores.base import AlertStore
from api.app.audit.log import AuditLog
from api.app.auth.service import AuthService
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase
from api.app.metrics import Metrics
from cityshield.clock import Clock

if TYPE_CHECKING:
    from api.app.cases.service import CaseService
    from api.app.fleet.ingest import IngestQueue
    from api.app.fleet.service import FleetService
    from api.app.noise.service import NoiseService
    from api.app.pki.service import PkiApi
    from api.app.triage.service import TriageService


@dataclass
class Services:
    settings: ApiSettings
    clock: Clock
    db: ServiceDatabase
    store: AlertStore
    audit: AuditLog
    auth: AuthService
    metrics: Metrics
    fleet: FleetService
    ingest: IngestQueue
    noise: NoiseService
    cases: CaseService
    triage: TriageService
    pki: PkiApi
    extra: dict[str, object] = field(default_factory=dict)

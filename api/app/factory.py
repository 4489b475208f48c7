"""``create_app``: the FastAPI application from settings and built objects.

No module-level app or settings: the caller (``cityshield serve``, a test) builds the settings,
the alert store and the clock and passes them in; everything else is built here and kept on
``app.state.services``. The app refuses to start if a route under ``/api`` declares no roles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from alerts.stores.base import AlertStore
from api.app import problems
from api.app.audit import views as audit_views
from api.app.audit.log import AuditLog
from api.app.auth import views as auth_views
from api.app.auth.hashing import SecretHasher
from api.app.auth.service import AuthService
from api.app.cases import views as case_views
from api.app.cases.service import CaseService
from api.app.config import ApiSettings
from api.app.db import ServiceDatabase
from api.app.deps import authenticate
from api.app.evidence import views as evidence_views
from api.app.fleet import views as fleet_views
from api.app.fleet.ingest import IngestQueue, IngestService
from api.app.fleet.service import FleetService
from api.app.health import metrics_route
from api.app.health import router as health_router
from api.app.limits import BodyLimitMiddleware
from api.app.metrics import Metrics, MetricsMiddleware
from api.app.noise import views as noise_views
from api.app.noise.filter import SuppressionFilter
from api.app.noise.service import NoiseService
from api.app.pki import views as pki_views
from api.app.pki.service import PkiApi, PkiComponents, offline_components
from api.app.response import views as response_views
from api.app.response.service import build_response_api, default_response_settings
from api.app.services import Services
from api.app.triage import views as triage_views
from api.app.triage.service import TriageService
from cityshield.clock import Clock, SystemClock
from cityshield.errors import ConfigError
from response.settings import ResponseSettings

VERSION = "1"
#: Routes anyone may call: probes, the login itself, and the API's description.
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/api/v1/auth/login", "/openapi.json", "/docs", "/redoc",
     "/docs/oauth2-redirect"}
)  # fmt: skip


def build_services(
    settings: ApiSettings,
    store: AlertStore,
    *,
    clock: Clock | None = None,
    db: ServiceDatabase | None = None,
    hasher: SecretHasher | None = None,
    pki: PkiComponents | None = None,
    response: ResponseSettings | None = None,
) -> Services:
    clock = clock or SystemClock()
    db = db or ServiceDatabase(settings.service_db)
    hasher = hasher or SecretHasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )
    metrics = Metrics()
    audit = AuditLog(db, clock)
    auth = AuthService(db, audit, hasher, clock, settings)
    suppression = SuppressionFilter(db, clock)

    def counted_filter(alerts: Any) -> Any:
        kept = suppression(alerts)
        metrics.suppressed.inc(len(alerts) - len(kept))
        return kept

    on_new_alerts: list[Any] = []  # the response engine's triggers, added below

    def ingest_filter(alerts: Any) -> Any:
        kept = counted_filter(alerts)
        for hook in on_new_alerts:
            hook(kept)  # queues only: ingest never waits for playbooks
        return kept

    ingest = IngestService(db, store, clock, metrics, ingest_filter)
    services = Services(
        settings=settings,
        clock=clock,
        db=db,
        store=store,
        audit=audit,
        auth=auth,
        metrics=metrics,
        fleet=FleetService(db, auth, audit, clock, settings),
        ingest=IngestQueue(ingest.store, settings.ingest_queue, metrics),
        noise=NoiseService(db, store, audit, clock, suppression),
        cases=CaseService(db, store, audit, clock),
        triage=TriageService(store, audit),
        pki=PkiApi(pki or offline_components(clock), store, audit, counted_filter),
    )
    response_api = build_response_api(
        response or default_response_settings(settings),
        store=store,
        audit=audit,
        cases=services.cases,
        clock=clock,
        revoker=services.pki.components.registry,
        ring=lambda alert_id: evidence_views.evidence_service(services).files.pcap(alert_id),
    )
    on_new_alerts.append(response_api.worker.submit_alerts)
    services.extra["response"] = response_api
    return services


def create_app(
    settings: ApiSettings,
    store: AlertStore,
    *,
    clock: Clock | None = None,
    db: ServiceDatabase | None = None,
    hasher: SecretHasher | None = None,
    close_on_shutdown: bool = False,
    pki: PkiComponents | None = None,
    response: ResponseSettings | None = None,
) -> FastAPI:
    """The app; the ingest writer runs while the app does (its lifespan). With
    ``close_on_shutdown`` the service database and the store are closed when it stops. ``pki``:
    the checks and credential registry from ``[pki]`` (``api.composition.build_pki_components``;
    None: offline ones)."""
    services = build_services(
        settings, store, clock=clock, db=db, hasher=hasher, pki=pki, response=response
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.ingest.start()
        services.extra["response"].start()  # type: ignore[attr-defined]
        try:
            yield
        finally:
            services.extra["response"].stop()  # type: ignore[attr-defined]
            services.ingest.stop()
            if close_on_shutdown:
                services.db.close()
                services.store.close()
                services.pki.components.close()

    app = FastAPI(
        title="CityShield",
        version=VERSION,
        summary="Network security monitoring for a city's SOC: alerts, cases, noise control, "
        "the sensor fleet.",
        description=_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    for router in (
        health_router,
        metrics_route(settings.metrics_public),
        auth_views.router,
        triage_views.router,
        case_views.router,
        noise_views.router,
        fleet_views.router,
        evidence_views.router,
        audit_views.router,
        pki_views.router,
        response_views.router,
    ):
        app.include_router(router)
    problems.install(app)
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_request_bytes,
        by_path={
            fleet_views.INGEST_PATH: settings.max_ingest_bytes,
            evidence_views.UPLOAD_PATH: evidence_views.MAX_UPLOAD_BYTES,
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"],
        )
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    check_roles(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def route_roles(route: APIRoute) -> list[str] | None:
    """The roles a route allows (from its ``allow(...)`` dependency); None when it has none."""
    for dep in route.dependant.dependencies:
        if dep.call is authenticate and dep.own_oauth_scopes:
            return list(dep.own_oauth_scopes)
    for param in route.dependencies:
        if param.dependency is authenticate and getattr(param, "scopes", None):
            return list(param.scopes)  # type: ignore[attr-defined]
    return None


def api_routes(app: FastAPI) -> list[tuple[str, set[str], APIRoute]]:
    """(full path, methods, route) of every API route, through included routers."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found.append((context.path or route.path, set(context.methods or ()), route))
    return found


def check_roles(app: FastAPI) -> None:
    checked = 0
    for path, _, route in api_routes(app):
        if path in PUBLIC_PATHS:
            continue
        if path == "/metrics" and app.state.services.settings.metrics_public:
            continue
        if route_roles(route) is None:
            raise ConfigError(f"route {path} declares no roles (use deps.allow)")
        checked += 1
    if not checked:
        raise ConfigError("no routes found to check their roles: a FastAPI change?")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary,
        description=app.description, routes=app.routes,
    )  # fmt: skip
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in fleet_views.EXTRA_SCHEMAS:
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in model_schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault(model.__name__, model_schema)
    app.openapi_schema = schema
    return schema


_DESCRIPTION = """
The SOC works through this API: analysts triage, responders act, admins enrol sensors, auditors
read. Every route but the probes and the login needs a bearer token (`Authorization: Bearer
cs_...`): from `POST /api/v1/auth/login`, an API token (`POST /api/v1/tokens`), or a sensor's
credential from its enrolment. Each route's security requirement lists the roles it allows.

Errors are `application/problem+json` (RFC 9457). Every change is in the audit log
(`GET /api/v1/audit`).
"""

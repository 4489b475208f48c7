"""The composition root: the one place that turns settings into objects and hands them down."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from alerts.stores.base import AlertStore
from alerts.stores.registry import open_store
from api.app.db import ServiceDatabase
from api.app.noise.filter import SuppressionFilter
from api.app.noise.service import aggregation_fields
from api.app.pki.service import PkiComponents
from api.settings import DEFAULT_RULES_DIR, Settings
from api.yara_rules import attach_rules
from cityshield.clock import Clock, SystemClock
from cityshield.errors import ConfigError
from detectors import registry
from detectors.base import Detector
from detectors.certificates import CertificateDetector
from detectors.pipeline import DetectionPipeline
from pki.fetch import HttpFetcher
from pki.registry import RegistryService, open_registry
from pki.revocation import RevocationCache
from pki.service import PkiService, build_service
from sensors.engine import SensorEngine

HEURISTICS_FILE = "heuristics.toml"


def build_store(settings: Settings, clock: Clock | None = None) -> AlertStore:
    s = settings.store
    section = s.elasticsearch if s.kind == "elasticsearch" else s.sqlite
    return open_store(s.kind, clock=clock or SystemClock(), **section.model_dump())


def detector_configs(settings: Settings) -> tuple[dict[str, Any], str]:
    """Detector configuration from the rules folder, and where it came from (for errors)."""
    rules_dir = settings.detectors.rules_dir
    if rules_dir is None:
        rules_dir = DEFAULT_RULES_DIR
        if not rules_dir.is_dir():
            return {}, "built-in defaults"  # an installed package without the repository
    elif not rules_dir.is_dir():
        raise ConfigError("rules folder not found", where=str(rules_dir))
    path = rules_dir / HEURISTICS_FILE
    if not path.is_file():
        return {}, "built-in defaults"
    try:
        configs = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    return configs, str(path)


def build_detectors(settings: Settings) -> list[Detector[Any]]:
    configs, where = detector_configs(settings)
    yara = settings.detectors.yara.model_dump(exclude_unset=True)
    configs["yara"] = {**configs.get("yara", {}), **yara}  # the settings file wins
    for detector_id in settings.detectors.disabled:
        configs.setdefault(detector_id, {})["enabled"] = False
    model = settings.models.default
    anomaly = dict(configs.get("anomaly", {}))
    if model is not None and anomaly.get("enabled", True):
        configs["anomaly"] = {**anomaly, "enabled": False}  # built below, with its model
    detectors = registry.build(configs, observer=settings.sensor.name, where=where)
    if model is not None and anomaly.get("enabled", True):
        from api.models.store import anomaly_detector  # scikit-learn: only when a model is used

        detectors.append(
            anomaly_detector(settings.models.folder, model, anomaly, observer=settings.sensor.name)
        )
    return detectors


def build_pipeline(
    settings: Settings, service_db: ServiceDatabase | None = None
) -> DetectionPipeline:
    detectors = build_detectors(settings)
    attach_rules(detectors, rules_path(settings))  # YARA rule packs: compiled, then reloading
    attach_certificate_checks(detectors, settings)
    aggregation = settings.aggregation
    if service_db is not None:
        # Aggregation keys analysts set per rule through the API take precedence over the file.
        by_rule = {**aggregation.fields_by_rule, **aggregation_fields(service_db)}
        aggregation = aggregation.model_copy(update={"fields_by_rule": by_rule})
    return DetectionPipeline(detectors, aggregation)


def open_service_db(settings: Settings) -> ServiceDatabase | None:
    """The API's service database (suppressions, aggregation keys), if one was made already."""
    path = settings.api.service_db
    if path == ":memory:" or not Path(path).is_file():
        return None
    return ServiceDatabase(path)


def build_alert_filter(
    service_db: ServiceDatabase, clock: Clock | None = None
) -> SuppressionFilter:
    """Suppressions and thresholds, applied to new alerts before they are stored."""
    return SuppressionFilter(service_db, clock or SystemClock())


def build_pki(settings: Settings, clock: Clock | None = None) -> PkiService:
    """The PKI checks: trust stores from ``[pki.trust.*]``, one revocation cache."""
    return build_service(settings.pki, clock or SystemClock())


def build_registry(
    settings: Settings,
    pki: PkiService | None = None,
    clock: Clock | None = None,
    *,
    lazy: bool = False,
) -> RegistryService:
    """The credential registry (``[pki.registry]``) over the PKI checks, with the city CA."""
    clock = clock or SystemClock()
    return open_registry(settings.pki, pki or build_pki(settings, clock), clock, lazy=lazy)


def build_pki_components(settings: Settings, clock: Clock | None = None) -> PkiComponents:
    """The HTTP API's PKI checks and credential registry."""
    clock = clock or SystemClock()
    checks = build_pki(settings, clock)
    registry = build_registry(settings, checks, clock, lazy=True)  # made when first used
    return PkiComponents(checks, registry, observer=settings.sensor.name)


def attach_certificate_checks(detectors: list[Detector[Any]], settings: Settings) -> None:
    """The passive certificate detector's revocation cache, and the credential registry when one
    exists already (a sensor without it only checks chains)."""
    for detector in detectors:
        if isinstance(detector, CertificateDetector):
            clock = SystemClock()
            cache = RevocationCache(HttpFetcher(settings.pki.fetch), clock, settings.pki.cache)
            path = settings.pki.registry.path
            registry = None
            if path != ":memory:" and Path(path).is_file():
                checks = build_pki(settings, clock)
                registry = open_registry(settings.pki, checks, clock, with_ca=False)
            detector.attach(revocation=cache, registry=registry)


def build_engine(settings: Settings) -> SensorEngine:
    return SensorEngine(settings.sensor)


def rules_path(settings: Settings) -> Path:
    return settings.detectors.rules_dir or DEFAULT_RULES_DIR

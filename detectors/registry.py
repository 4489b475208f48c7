"""The built-in detectors, listed explicitly, plus third-party ones from entry points.

Entry-point plugins register under the group ``cityshield.detectors``; each entry point names a
``Detector`` subclass. Two detectors with one id stop start-up with a ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from cityshield.errors import ConfigError
from detectors.anomaly.detector import AnomalyDetector
from detectors.base import Detector
from detectors.certificates import CertificateDetector
from detectors.heuristics.brute_force import BruteForceDetector
from detectors.heuristics.port_scan import PortScanDetector
from detectors.yara.detector import YaraDetector

BUILTIN: tuple[type[Detector[Any]], ...] = (
    PortScanDetector,
    BruteForceDetector,
    AnomalyDetector,
    YaraDetector,
    CertificateDetector,
)
ENTRY_POINT_GROUP = "cityshield.detectors"


def available(*, plugins: bool = True) -> dict[str, type[Detector[Any]]]:
    """Every detector class by id: built-ins first, then plugins."""
    found: dict[str, type[Detector[Any]]] = {}
    classes: list[tuple[str, type[Detector[Any]]]] = [("built-in", c) for c in BUILTIN]
    if plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Detector)):
                raise ConfigError(f"entry point {ep.value} is not a Detector", where=ep.name)
            classes.append((f"plugin {ep.value}", cls))
    for origin, cls in classes:
        if cls.id in found:
            raise ConfigError(
                f"two detectors share the id {cls.id!r} ({found[cls.id].__module__} and {origin})",
                where="detectors",
            )
        found[cls.id] = cls
    return found


def build(
    configs: Mapping[str, Mapping[str, Any]],
    *,
    observer: str,
    where: str = "detector configuration",
    plugins: bool = True,
) -> list[Detector[Any]]:
    """Instantiate every enabled detector with its configuration (defaults where none is given).

    ``where`` names the source of ``configs`` (a file) for error messages.
    """
    classes = available(plugins=plugins)
    unknown = sorted(set(configs) - set(classes))
    if unknown:
        raise ConfigError(f"unknown detector(s): {', '.join(unknown)}", where=where)
    detectors: list[Detector[Any]] = []
    for detector_id, cls in classes.items():
        try:
            config = cls.config_model.model_validate(dict(configs.get(detector_id, {})))
        except ValidationError as exc:
            problems = "; ".join(
                f"[{detector_id}] {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in exc.errors()
            )
            raise ConfigError(problems, where=where) from None
        if config.enabled:
            detectors.append(cls(config, observer=observer))
    return detectors

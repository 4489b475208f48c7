from __future__ import annotations

from typing import Any, ClassVar

import pytest

from cityshield.errors import ConfigError
from detectors import registry
from detectors.anomaly.detector import AnomalyDetector
from detectors.base import Detector, DetectorConfig
from detectors.certificates import CertificateDetector
from detectors.heuristics.brute_force import BruteForceDetector
from detectors.heuristics.port_scan import PortScanDetector
from detectors.yara.detector import YaraDetector


def test_builtins_are_listed_by_id() -> None:
    assert registry.available(plugins=False) == {
        "port_scan": PortScanDetector,
        "brute_force": BruteForceDetector,
        "anomaly": AnomalyDetector,
        "yara": YaraDetector,
        "certificates": CertificateDetector,
    }


def test_build_uses_defaults_and_skips_disabled() -> None:
    built = registry.build({"brute_force": {"enabled": False}}, observer="t", plugins=False)
    assert [d.id for d in built] == ["port_scan", "yara"]
    assert built[0].observer == "t"


def test_unknown_detector_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"rules/x\.toml: unknown detector\(s\): port_sacn"):
        registry.build({"port_sacn": {}}, observer="t", where="rules/x.toml", plugins=False)


def test_bad_threshold_names_detector_and_key() -> None:
    with pytest.raises(
        ConfigError, match=r"\[port_scan\] vertical_min_ports: .*greater than or equal to 2"
    ):
        registry.build({"port_scan": {"vertical_min_ports": 0}}, observer="t", plugins=False)


def test_unknown_key_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"\[brute_force\] max_sesions"):
        registry.build({"brute_force": {"max_sesions": 3}}, observer="t", plugins=False)


def test_bad_cidr_is_an_error() -> None:
    with pytest.raises(ConfigError, match="ignore_sources"):
        registry.build(
            {"port_scan": {"ignore_sources": ["10.0.0.0/33"]}}, observer="t", plugins=False
        )


def test_duplicate_ids_stop_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    class Impostor(Detector[DetectorConfig]):
        id: ClassVar[str] = "port_scan"

    builtins: tuple[type[Detector[Any]], ...] = (*registry.BUILTIN, Impostor)
    monkeypatch.setattr(registry, "BUILTIN", builtins)
    with pytest.raises(ConfigError, match="two detectors share the id 'port_scan'"):
        registry.available(plugins=False)

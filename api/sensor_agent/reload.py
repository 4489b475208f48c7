"""``RuleWatcher``: the sensor's detection rules and model files, rebuilt when they change, and
when the central service's per-rule aggregation keys change (the shipper reads them).

New rules and models reach a sensor as files (the central service's configuration management,
or an operator, writes them into ``detectors.rules_dir`` and ``models.folder``); the agent looks
at their size and modification time every ``every`` seconds, and on SIGHUP. A change rebuilds the
detection pipeline; one that does not load (a TOML error, a model whose card does not match)
keeps the running pipeline and says why. YARA rule packs already reload themselves
(``api.yara_rules``); they are watched here only to report the rule version.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from api.composition import build_pipeline, rules_path
from api.settings import Settings
from cityshield.errors import CityShieldError
from detectors.pipeline import DetectionPipeline

log = logging.getLogger(__name__)


class RuleWatcher:
    def __init__(self, settings: Settings, every: float = 5.0) -> None:
        self.settings = settings
        self.every = every
        #: Aggregation keys per rule set centrally: they win over the rule files, as in
        #: ``api.composition.build_pipeline`` with the service database.
        self.central_aggregation: dict[str, list[str]] = {}
        self.version = self._fingerprint()
        self._next = time.monotonic() + every
        self.reloads = 0
        self.last_error: str | None = None

    def set_central(self, fields: dict[str, list[str]]) -> None:
        """New keys from the central service: the next ``check`` rebuilds detection."""
        self.central_aggregation = dict(fields)
        self._next = 0.0
        self.version = ""  # differs from any fingerprint: forces the rebuild

    def _settings(self) -> Settings:
        agg = self.settings.aggregation
        merged = {**agg.fields_by_rule, **self.central_aggregation}
        return self.settings.model_copy(
            update={"aggregation": agg.model_copy(update={"fields_by_rule": merged})}
        )

    def _files(self) -> Iterator[Path]:
        root = rules_path(self.settings)
        if root.is_dir():
            yield from sorted(p for p in root.rglob("*") if p.is_file())
        name = self.settings.models.default
        if name is not None:
            yield from sorted(Path(self.settings.models.folder).glob(f"{name}.*"))

    def _fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=6)
        for p in self._files():
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        h.update(repr(sorted(self.central_aggregation.items())).encode())
        return h.hexdigest()

    def check(self, force: bool = False) -> DetectionPipeline | None:
        """A new pipeline when the files changed (and loaded), else None."""
        if not force and time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.every
        version = self._fingerprint()
        if version == self.version and not force:
            return None
        try:
            pipeline = build_pipeline(self._settings())
        except CityShieldError as exc:
            self.last_error = f"rules {version} not loaded, {self.version} kept: {exc}"
            log.error("%s", self.last_error)
            self.version = version  # do not retry the same broken files every few seconds
            return None
        log.warning("rules and models changed (%s -> %s): detection reloaded", self.version,
                    version)  # fmt: skip
        self.version = version
        self.reloads += 1
        self.last_error = None
        return pipeline

"""Model files: ``NAME.skops`` (the fitted pipeline, skops format, never pickle) and
``NAME.card.json`` (its card), in the models folder.

A model file is code-shaped data from wherever it was copied, so loading trusts nothing: the
card must parse and match this CityShield (feature list, library versions), the file's SHA-256
must be the card's, and skops must find no type outside ``ALLOWED_TYPES`` before it builds
anything (``skops.io.get_untrusted_types``, then ``load`` trusting exactly those). skops never
unpickles and never imports or calls what the file names unless it is trusted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from pydantic import ValidationError
from sklearn.pipeline import Pipeline

from api.models.card import ModelCard
from api.models.dataset import sha256_of
from api.models.training import library_versions
from cityshield.errors import ConfigError
from detectors.anomaly.detector import AnomalyConfig, AnomalyDetector
from detectors.anomaly.extractor import ExtractorSettings
from detectors.anomaly.features import FEATURE_VERSION, feature_list_digest
from detectors.anomaly.hosts import HostWindowSettings
from detectors.anomaly.model import AnomalyModel, Baseline

#: Types outside skops' default trust that our pipelines contain; anything else is refused.
ALLOWED_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
    }
)
MAX_MODEL_BYTES = 512 * 1024 * 1024
MAX_CARD_BYTES = 16 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SUFFIX, CARD_SUFFIX = ".skops", ".card.json"


class ModelStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def paths(self, name: str) -> tuple[Path, Path]:
        """Model and card paths of a name in the folder, or of a path to a ``.skops`` file."""
        if name.endswith(SUFFIX):
            model = Path(name)
            return model, model.with_name(model.name[: -len(SUFFIX)] + CARD_SUFFIX)
        if not _NAME.match(name):
            raise ConfigError(
                "a model name is letters, digits, '.', '_' and '-' (or a path to a .skops file)",
                where=name,
            )
        return self.folder / f"{name}{SUFFIX}", self.folder / f"{name}{CARD_SUFFIX}"

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name[: -len(SUFFIX)] for p in self.folder.glob(f"*{SUFFIX}"))

    def save(self, pipeline: Pipeline, card: ModelCard) -> tuple[Path, ModelCard]:
        model_path, card_path = self.paths(card.name)
        model_path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump(pipeline, model_path)
        card = card.model_copy(update={"model_file_sha256": sha256_of(model_path)})
        self.write_card(card, card_path)
        return model_path, card

    def write_card(self, card: ModelCard, path: Path | None = None) -> None:
        path = path or self.paths(card.name)[1]
        path.write_bytes((card.model_dump_json(indent=2) + "\n").encode())

    def card(self, name: str) -> ModelCard:
        card_path = self.paths(name)[1]
        if not card_path.is_file():
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"no such model (models in {self.folder}: {known})", where=name)
        if card_path.stat().st_size > MAX_CARD_BYTES:
            raise ConfigError("model card larger than 16 MiB", where=str(card_path))
        try:
            return ModelCard.model_validate(json.loads(card_path.read_bytes()))
        except (ValueError, ValidationError) as exc:
            raise ConfigError(
                f"not a valid model card: {_first_line(exc)}", where=str(card_path)
            ) from None

    def load(self, name: str) -> tuple[AnomalyModel, ModelCard]:
        card = self.card(name)
        model_path, card_path = self.paths(name)
        check_compatible(card, where=str(card_path))
        if not model_path.is_file():
            raise ConfigError("model file missing (its card is there)", where=str(model_path))
        if model_path.stat().st_size > MAX_MODEL_BYTES:
            raise ConfigError("model file larger than 512 MiB", where=str(model_path))
        if sha256_of(model_path) != card.model_file_sha256:
            raise ConfigError(
                "model file differs from the one its card describes (SHA-256)",
                where=str(model_path),
            )
        pipeline = load_untrusted(model_path)
        return to_model(card, pipeline), card


def load_untrusted(path: Path) -> Pipeline:
    """Load a skops file, refusing any type we do not expect; never runs code from the file."""
    try:
        untrusted = set(sio.get_untrusted_types(file=path))
    except Exception as exc:  # a corrupt zip or schema: skops raises many kinds
        raise ConfigError(f"not a skops model file: {_first_line(exc)}", where=str(path)) from None
    unexpected = sorted(untrusted - ALLOWED_TYPES)
    if unexpected:
        raise ConfigError(
            f"model file refers to types we never trust: {', '.join(unexpected)}", where=str(path)
        )
    try:
        obj: Any = sio.load(path, trusted=sorted(untrusted))
    except Exception as exc:
        raise ConfigError(
            f"model file cannot be loaded: {_first_line(exc)}", where=str(path)
        ) from None
    if not isinstance(obj, Pipeline) or not hasattr(obj, "score_samples"):
        raise ConfigError(
            f"model file holds a {type(obj).__name__}, not a scoring pipeline", where=str(path)
        )
    return obj


def check_compatible(card: ModelCard, *, where: str) -> None:
    if card.feature_version != FEATURE_VERSION or card.feature_digest != feature_list_digest():
        raise ConfigError(
            f"model trained on feature list v{card.feature_version} ({len(card.features)} "
            f"features), this CityShield computes v{FEATURE_VERSION}: retrain it with "
            "`cityshield train`",
            where=where,
        )
    here = library_versions()
    for lib, depth in (("scikit-learn", 3), ("numpy", 1), ("scipy", 2), ("skops", 2)):
        trained, now = card.libraries.get(lib, "?"), here[lib]
        if trained.split(".")[:depth] != now.split(".")[:depth]:
            raise ConfigError(
                f"model trained with {lib} {trained}, this environment has {now}: retrain it "
                "with `cityshield train` (or install the version it was trained with)",
                where=where,
            )


def to_model(card: ModelCard, pipeline: Pipeline) -> AnomalyModel:
    b = card.baseline
    baseline = Baseline(
        median=np.array(b.median),
        q1=np.array(b.q1),
        q3=np.array(b.q3),
        p01=np.array(b.p01),
        p99=np.array(b.p99),
        shares={int(k): dict(v) for k, v in b.shares.items()},
    )
    extractor = ExtractorSettings(
        windows=HostWindowSettings(window_seconds=card.window_seconds),
        payload_entropy=card.flows_with_payload_entropy > 0,
        dns_queries=card.dns_records > 0,
    )
    return AnomalyModel(card.name, pipeline, card.threshold, card.target_fpr, baseline, extractor)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def anomaly_detector(
    folder: Path, name: str, config: dict[str, Any], *, observer: str
) -> AnomalyDetector:
    """The anomaly detector with model ``name`` from ``folder``, configured by ``config``."""
    model, _ = ModelStore(folder).load(name)
    try:
        settings = AnomalyConfig.model_validate({**config, "enabled": True})
    except ValidationError as exc:
        raise ConfigError(_first_line(exc), where="detectors.anomaly") from None
    return AnomalyDetector(settings, observer=observer, model=model)

"""The model card: what a model is, what it was trained on, and how it decides (stored format v1).

It travels as ``NAME.card.json`` next to ``NAME.skops``. Loading checks it against the code that
will use the model (feature list, library versions) and against the model file (SHA-256).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CARD_VERSION = 1
Algorithm = Literal["isolation_forest", "local_outlier_factor"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureInfo(_Record):
    name: str
    unit: str
    transform: str
    description: str


class TrainingFile(_Record):
    file: str
    sha256: str
    bytes: int
    flows: int


class Calibration(_Record):
    """Benign scores held back from fitting: the highest ones, so that a threshold for another
    target false-positive rate can be set without retraining."""

    flows: int = Field(ge=1)
    #: The highest calibration scores, highest first (up to ``tail`` of them).
    tail: list[float]


class FeatureBaseline(_Record):
    """Per feature, in model space (see the feature's transform), over the training flows."""

    median: list[float]
    q1: list[float]
    q3: list[float]
    p01: list[float]
    p99: list[float]
    #: For class and flag features: feature index -> value -> share of flows.
    shares: dict[int, dict[float, float]]


class ModelCard(_Record):
    card_version: int = Field(CARD_VERSION, ge=1, le=CARD_VERSION)
    name: str
    created: AwareDatetime
    algorithm: Algorithm
    parameters: dict[str, float | int | str | None]
    feature_version: int
    feature_digest: str
    features: list[FeatureInfo]
    window_seconds: float
    #: Optional content the training flows had (0: scoring ignores that content too).
    flows_with_payload_entropy: int
    dns_records: int
    training: list[TrainingFile]
    training_flows: int
    libraries: dict[str, str]
    model_file_sha256: str
    target_fpr: float = Field(gt=0, lt=1)
    threshold: float
    calibration: Calibration
    baseline: FeatureBaseline

    def with_threshold(self, target_fpr: float, threshold: float) -> ModelCard:
        return self.model_copy(update={"target_fpr": target_fpr, "threshold": threshold})

    @property
    def created_text(self) -> str:
        return datetime.isoformat(self.created)

"""A small labelled set (a few minutes of each capture) and a model trained on it, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.demo.labelled import generate
from api.models.dataset import extract
from api.models.store import ModelStore
from api.models.training import TrainSettings, fit
from detectors.anomaly.extractor import ExtractorSettings

SCALE = 0.05  # baseline 6 min, attack captures 90 s


@pytest.fixture(scope="session")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("labelled")
    generate(out, scale=SCALE)
    return out


@pytest.fixture(scope="session")
def trained(labelled: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    store = ModelStore(tmp_path_factory.mktemp("models"))
    data = extract([labelled / "baseline.pcap"], ExtractorSettings())
    pipeline, card = fit(
        data, "small", TrainSettings(target_fpr=1e-2, n_estimators=20), ExtractorSettings()
    )
    store.save(pipeline, card)
    return store

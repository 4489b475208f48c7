"""Model files: saved with skops and a card, loaded only when nothing is off; a tampered file
never runs code."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from api.models.dataset import sha256_of
from api.models.store import ModelStore, load_untrusted
from cityshield.errors import ConfigError
from detectors.anomaly.features import FEATURES


def copy_store(store: ModelStore, tmp_path: Path) -> ModelStore:
    shutil.copytree(store.folder, tmp_path / "models")
    return ModelStore(tmp_path / "models")


def test_saved_model_loads_and_scores(trained: ModelStore) -> None:
    model, card = trained.load("small")
    assert card.algorithm == "isolation_forest"
    assert [f.name for f in card.features] == [f.name for f in FEATURES]
    assert card.training[0].file == "baseline.pcap" and card.training[0].flows > 1000
    assert set(card.libraries) == {"scikit-learn", "numpy", "scipy", "skops"}
    assert card.threshold == model.threshold
    scores = model.scores(np.zeros((3, len(FEATURES))))
    assert scores.shape == (3,)


def test_card_is_json_with_the_documented_fields(trained: ModelStore) -> None:
    data = json.loads(trained.paths("small")[1].read_text())
    for key in (
        "features",
        "training",
        "created",
        "libraries",
        "parameters",
        "threshold",
        "target_fpr",
        "calibration",
        "feature_digest",
        "model_file_sha256",
    ):
        assert key in data
    assert data["features"][0] == {
        "name": "duration",
        "unit": "ms",
        "transform": "log1p",
        "description": FEATURES[0].description,
    }


def _tamper(path: Path, module: str, cls: str) -> None:
    """Rewrite the schema so the scaler node names another type, with a fresh SHA in the card."""
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(files["schema.json"])
    scaler = schema["content"]["content"]["steps"]["content"][0]["content"][1]
    scaler["__module__"], scaler["__class__"] = module, cls
    files["schema.json"] = json.dumps(schema).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    path.write_bytes(buf.getvalue())


def _resign(store: ModelStore, name: str) -> None:
    model_path, card_path = store.paths(name)
    card = json.loads(card_path.read_text())
    card["model_file_sha256"] = sha256_of(model_path)
    card_path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("module", "cls"), [("os", "system"), ("builtins", "eval"), ("subprocess", "Popen")]
)
def test_tampered_model_cannot_run_code(
    trained: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, cls: str
) -> None:
    store = copy_store(trained, tmp_path)
    _tamper(store.paths("small")[0], module, cls)
    _resign(store, "small")  # an attacker who can write the file can write the card too
    ran: list[object] = []
    import builtins
    import os
    import subprocess

    monkeypatch.setattr(os, "system", lambda *a: ran.append(a))
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append(a))
    with pytest.raises(ConfigError, match=rf"types we never trust: {module}\.{cls}"):
        store.load("small")
    assert ran == []


def test_changed_model_file_is_refused(trained: ModelStore, tmp_path: Path) -> None:
    store = copy_store(trained, tmp_path)
    path = store.paths("small")[0]
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ConfigError, match="differs from the one its card describes"):
        store.load("small")


def test_not_a_skops_file(tmp_path: Path) -> None:
    path = tmp_path / "x.skops"
    path.write_bytes(b"\x80\x04K\x01.")  # a pickle, which skops never reads
    with pytest.raises(ConfigError, match="not a skops model file"):
        load_untrusted(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("feature_digest", "0" * 64, "feature list v1"),
        ("feature_version", 99, "feature list v99"),
        (
            "libraries",
            {"scikit-learn": "0.24.2", "numpy": "2.4.6", "scipy": "1", "skops": "0.1"},
            "trained with scikit-learn 0.24.2",
        ),
    ],
)
def test_other_features_or_libraries_are_refused(
    trained: ModelStore, tmp_path: Path, key: str, value: object, message: str
) -> None:
    store = copy_store(trained, tmp_path)
    card_path = store.paths("small")[1]
    card = json.loads(card_path.read_text())
    card[key] = value
    card_path.write_text(json.dumps(card))
    with pytest.raises(ConfigError, match=message):
        store.load("small")


def test_bad_names_and_missing_models(trained: ModelStore) -> None:
    with pytest.raises(ConfigError, match="a model name is"):
        trained.load("../etc/passwd")
    with pytest.raises(ConfigError, match=r"no such model \(models in .*: small\)"):
        trained.load("other")

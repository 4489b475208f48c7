"""``cityshield train CAPTURE... --model NAME`` and ``cityshield calibrate NAME --target-fpr``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from api.cli.common import EXIT_CAPTURE, ConfigOpt, JsonOpt, fail, load, out, user_errors

Algorithm = Literal["isolation_forest", "local_outlier_factor"]


def train(
    captures: Annotated[list[Path], typer.Argument(help="Benign baseline captures of the site.")],
    model: Annotated[str, typer.Option("--model", help="Name to save the model under.")],
    algorithm: Annotated[
        str, typer.Option("--algorithm", help="isolation_forest or local_outlier_factor.")
    ] = "isolation_forest",
    target_fpr: Annotated[
        float, typer.Option("--target-fpr", help="False-positive rate the threshold aims at.")
    ] = 1e-3,
    window: Annotated[
        float, typer.Option("--window", help="Per-host window of host features, seconds.")
    ] = 900.0,
    seed: Annotated[int, typer.Option("--seed", help="Randomness of fitting.")] = 0,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit an anomaly model on benign traffic, calibrate its threshold, save it with its card."""
    for path in captures:
        if not path.is_file():
            fail(f"{path}: no such file", EXIT_CAPTURE)
    if algorithm not in ("isolation_forest", "local_outlier_factor"):
        fail(f"--algorithm: {algorithm!r} is not isolation_forest or local_outlier_factor", 1)
    with user_errors():
        from api.models.dataset import extract  # scikit-learn loads only for model commands
        from api.models.store import ModelStore
        from api.models.training import TrainSettings, fit
        from detectors.anomaly.extractor import ExtractorSettings
        from detectors.anomaly.hosts import HostWindowSettings

        settings = load(config)
        store = ModelStore(settings.models.folder)
        store.paths(model)  # a bad name fails before minutes of feature extraction
        extractor = ExtractorSettings(windows=HostWindowSettings(window_seconds=window))
        data = extract(captures, extractor, settings.sensor)
        ts = TrainSettings(algorithm=algorithm, target_fpr=target_fpr, seed=seed)  # type: ignore[arg-type]
        pipeline, card = fit(data, model, ts, extractor)
        path, card = store.save(pipeline, card)
    summary = {
        "model": str(path),
        "card": str(store.paths(model)[1]),
        "flows": card.training_flows,
        "algorithm": card.algorithm,
        "threshold": card.threshold,
        "target_fpr": card.target_fpr,
        "calibration_flows": card.calibration.flows,
    }
    if json_out:
        out.print_json(json.dumps(summary))
    else:
        out.print(
            f"{path}: {card.algorithm} on {card.training_flows:,} flows; threshold "
            f"{card.threshold:.4f} for a false-positive rate of {card.target_fpr:g} "
            f"(calibrated on {card.calibration.flows:,} held-out flows)"
        )


def calibrate(
    model: Annotated[str, typer.Argument(help="Model name (or path to a .skops file).")],
    target_fpr: Annotated[
        float, typer.Option("--target-fpr", help="New target false-positive rate.")
    ],
    config: ConfigOpt = None,
) -> None:
    """Set a model's threshold for another false-positive rate, without retraining."""
    with user_errors():
        from api.models.calibration import threshold_for
        from api.models.store import ModelStore

        settings = load(config)
        store = ModelStore(settings.models.folder)
        card = store.card(model)
        threshold = threshold_for(card.calibration, target_fpr, where=model)
        card = card.with_threshold(target_fpr, threshold)
        store.write_card(card, store.paths(model)[1])
    out.print(f"{model}: threshold {threshold:.4f} for a false-positive rate of {target_fpr:g}")

"""``cityshield evaluate [CAPTURE|DIR...] --model NAME``: how well a model finds labelled attacks.

``--generate DIR`` first writes the labelled demo set (``api.demo.labelled``) into DIR.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import EXIT_CAPTURE, ConfigOpt, JsonOpt, fail, load, out, user_errors

if TYPE_CHECKING:
    from api.models.evaluation import CaptureResult


def evaluate(
    captures: Annotated[
        list[Path] | None,
        typer.Argument(help="Labelled captures (NAME.pcap with NAME.labels.json), or folders."),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model to evaluate.")] = None,
    generate: Annotated[
        Path | None, typer.Option("--generate", help="Write the labelled demo set here first.")
    ] = None,
    scale: Annotated[
        float, typer.Option("--scale", help="Length factor of generated captures.")
    ] = 1.0,
    markdown: Annotated[bool, typer.Option("--markdown", help="A Markdown table.")] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Print ROC AUC, PR AUC and detection rates at FPR 1e-3 and 1e-2 per attack type."""
    paths = list(captures or [])
    with user_errors():
        if generate is not None:
            from api.demo.labelled import generate as write_set

            for labels in write_set(generate, scale=scale):
                out.print(f"{generate / labels.capture}: {len(labels.flows):,} flows")
            if not paths:
                paths = [generate]
        if model is None:
            if generate is not None and not captures:
                return
            fail("name a model with --model (train one with `cityshield train`)", 1)
        files = _captures(paths)
        from api.models.evaluation import evaluate_capture
        from api.models.store import ModelStore

        settings = load(config)
        loaded, card = ModelStore(settings.models.folder).load(model)
        results = [evaluate_capture(loaded, f, settings.sensor) for f in files]
    if json_out:
        out.print_json(
            json.dumps(
                {
                    "model": model,
                    "threshold": card.threshold,
                    "target_fpr": card.target_fpr,
                    "captures": [asdict(r) for r in results],
                }
            )
        )
        return
    out.print(table(results, markdown=markdown))
    out.print(f"\nmodel {model}: threshold {card.threshold:.4f}, target FPR {card.target_fpr:g}")


def _captures(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            # The baseline is what a model trains on: evaluating on it would flatter the model.
            files += sorted(f for f in p.glob("*.pcap") if f.stem != "baseline")
        elif p.is_file():
            files.append(p)
        else:
            fail(f"{p}: no such file or folder", EXIT_CAPTURE)
    if not files:
        fail("no labelled captures found", EXIT_CAPTURE)
    return files


def table(results: list[CaptureResult], *, markdown: bool = False) -> str:
    head = [
        "capture",
        "kind",
        "attack flows",
        "benign flows",
        "ROC AUC",
        "PR AUC",
        "DR@FPR 1e-3",
        "DR@FPR 1e-2",
        "DR@threshold",
        "FPR@threshold",
    ]
    rows = []
    for r in results:

        def f(v: float | None) -> str:
            return "-" if v is None else f"{v:.3f}"

        rows.append(
            [
                r.capture,
                r.kind,
                f"{r.attack_flows:,}",
                f"{r.benign_flows:,}",
                f(r.roc_auc),
                f(r.pr_auc),
                f(r.detection.get(1e-3)),
                f(r.detection.get(1e-2)),
                f(r.detection_at_threshold),
                f"{r.fpr_at_threshold:.2e} ({r.false_positives})",
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
    return "\n".join(
        "  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *rows]
    )

"""Response engine figures: how fast playbooks validate, how many steps per second the engine
records (each step is written before and after it runs, synchronously, plus its journal entries),
and dry runs of the whole library.

    .venv/bin/python -m bench.response [--steps 200]

Steps are ``wait 0`` (a real action that does nothing), so the figure is the engine's own cost:
two committed SQLite transactions per step with ``synchronous = FULL`` and the journal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as ``python bench/response.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cityshield.clock import SystemClock
from response.actions.registry import action_types, build_actions
from response.audit import NullAuditor
from response.engine import ResponseEngine
from response.schema import Playbook
from response.service import ResponseService
from response.settings import ResponseSettings
from response.store import RunStore
from response.validation import validate_paths
from tests.unit.response.conftest import PLAYBOOKS, sample_alert


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100, help="at most 100 (a playbook's limit)")
    args = parser.parse_args()
    files = sorted(PLAYBOOKS.glob("*.yaml"))
    start = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        loaded, _ = validate_paths(files, action_types())
    took = (time.perf_counter() - start) / rounds
    each = took / len(files) * 1000
    print(f"validate: {len(files)} playbooks in {took * 1000:.1f} ms ({each:.2f} ms each)")

    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(str(Path(tmp) / "runs.db"))
        clock = SystemClock()
        settings = ResponseSettings(
            evidence_dir=Path(tmp) / "e", dns={"zone_file": Path(tmp) / "z"}
        )
        engine = ResponseEngine(store, build_actions(settings), NullAuditor(), clock)
        steps = [
            {"id": f"s{i}", "action": "wait", "with": {"seconds": 0}} for i in range(args.steps)
        ]
        pb = Playbook.model_validate({"id": "many", "name": "many", "steps": steps})
        library = {p.playbook.id: p.playbook for p in loaded} | {"many": pb}
        service = ResponseService(store, engine, library, clock)
        run_id = service.start("many", actor="bench", role="admin")
        start = time.perf_counter()
        engine.advance(run_id)
        took = time.perf_counter() - start
        print(
            f"engine: {args.steps} recorded steps in {took:.2f} s = "
            f"{args.steps / took:.0f} steps/s ({took / args.steps * 1000:.2f} ms per step)"
        )
        alert = sample_alert()
        start = time.perf_counter()
        n = 0
        for _ in range(5):
            for playbook_id in sorted(p.playbook.id for p in loaded):
                engine.advance(
                    service.start(playbook_id, actor="b", role="admin", alert=alert, dry_run=True)
                )
                n += 1
        took = time.perf_counter() - start
        print(
            f"dry runs: {n} runs of the library in {took:.2f} s = {took / n * 1000:.1f} ms per run"
        )
        store.close()
    print(f"at {datetime.now(UTC):%Y-%m-%d %H:%M}Z")


if __name__ == "__main__":
    main()

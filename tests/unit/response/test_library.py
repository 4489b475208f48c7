"""Every playbook in playbooks/ validates and runs end to end in dry-run, touching nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityshield.clock import FixedClock
from response.actions.registry import action_types
from response.models import RunState, StepState
from response.schema import json_schema
from response.settings import ResponseSettings
from response.store import RunStore
from response.validation import validate_paths
from tests.unit.response.conftest import PLAYBOOKS, make_service, sample_alert

FILES = sorted(PLAYBOOKS.glob("*.yaml"))


def test_the_library_covers_the_e_government_incidents() -> None:
    ids = {f.stem for f in FILES}
    assert {
        "webshell-on-portal",
        "web-defacement",
        "ransomware-outbreak",
        "ddos-public-service",
        "citizen-data-leak",
        "compromised-account",
        "compromised-certificate",
        "phishing-imitating-portal",
        "suspicious-admin-login",
        "scan-from-abroad",
    } <= ids


def test_every_playbook_validates() -> None:
    loaded, issues = validate_paths([PLAYBOOKS], action_types())
    assert [str(i) for i in issues] == []
    assert len(loaded) == len(FILES)
    assert all(p.playbook.id == p.path.stem for p in loaded)


def test_the_published_schema_is_the_models_schema() -> None:
    import json

    published = json.loads((PLAYBOOKS / "schema.json").read_text())
    assert published == json_schema()


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_dry_run_end_to_end(
    path: Path, tmp_path: Path, run_store: RunStore, clock: FixedClock
) -> None:
    loaded, _ = validate_paths([path], action_types())
    playbook = loaded[0].playbook
    # Settings that point everything at tmp_path: a dry run must leave it empty.
    settings = ResponseSettings(
        evidence_dir=tmp_path / "evidence",
        dns={"zone_file": tmp_path / "rpz.zone"},
        firewall={"nft": str(tmp_path / "no-nft")},
        http={"allowed_hosts": ["scrubbing.isp.example", "abuse.hosting.example"]},
        webhooks={
            "web-team": {"url": "http://127.0.0.1:9/x", "secret": "k"},
            "identity-team": {"url": "http://127.0.0.1:9/y", "secret": "k"},
        },
    )
    service = make_service(run_store, clock, [playbook], settings=settings)
    run_id = service.start(
        playbook.id, actor="ana", role="responder", alert=sample_alert(), dry_run=True
    )
    assert service.engine.advance(run_id) is RunState.SUCCEEDED, service.detail(run_id).reason
    detail = service.detail(run_id)
    by_id = {s.step_id: s for s in detail.steps}
    assert set(by_id) == {s.id for s in playbook.steps}
    for step in detail.steps:
        assert step.state in (StepState.SUCCEEDED, StepState.SKIPPED), (step.key, step.error)
        if step.state is StepState.SUCCEEDED:
            assert step.plan, step.key
    assert detail.approvals == []  # nobody was asked: nothing would have been done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db", "runs.db-shm", "runs.db-wal"]

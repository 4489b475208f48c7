"""Approval steps: only the named roles or users decide; the run waits and says for whom; it
goes on after enough approvals, stops on decline or expiry (or goes on, as the step says); every
decision and refusal is journaled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cityshield.clock import FixedClock
from response.approvals import ApprovalError
from response.models import ApprovalState, RunState, StepState
from response.schema import Playbook
from response.store import RunStore
from tests.unit.response.conftest import RecordingAction, make_service


def guarded(**approval: Any) -> Playbook:
    return Playbook.model_validate(
        {
            "id": "t",
            "name": "test",
            "steps": [
                {"id": "before", "action": "test.record", "with": {"value": "before"}},
                {
                    "id": "ok",
                    "approval": {
                        "approvers": {"roles": ["responder"], "users": ["mayor"]},
                        "ttl": "10m",
                        "reason": "block {{ inputs.ip }}",
                        **approval,
                    },
                },
                {"id": "block", "action": "test.record", "with": {"value": "block"}},
                {"id": "ok2", "approval": {"approvers": {"roles": ["admin"]}}},
                {"id": "after", "action": "test.record", "with": {"value": "after"}},
            ],
            "inputs": {"ip": {"default": "203.0.113.9"}},
        }
    )


def start(
    run_store: RunStore, clock: FixedClock, **approval: Any
) -> tuple[Any, RecordingAction, str]:
    action = RecordingAction()
    service = make_service(run_store, clock, [guarded(**approval)], [action])
    run_id = service.start("t", actor="ana", role="analyst")
    assert service.engine.advance(run_id) is RunState.WAITING
    return service, action, run_id


def test_waits_and_says_for_whom(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock)
    assert action.calls == ["before"]
    detail = service.detail(run_id)
    assert "role responder or user mayor" in detail.reason and "block 203.0.113.9" in detail.reason
    [pending] = service.pending()
    assert pending.reason == "block 203.0.113.9" and pending.roles == ["responder"]
    assert pending.expires_at == clock.now() + timedelta(minutes=10)
    assert service.pending(actor="bob", role="analyst") == []
    assert [p.id for p in service.pending(actor="mayor", role="auditor")] == [pending.id]
    assert service.engine.advance(run_id) is RunState.WAITING  # nothing decided: still waiting


def test_a_user_without_the_role_cannot_approve(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock)
    [pending] = service.pending()
    with pytest.raises(ApprovalError) as refused:
        service.decide(pending.id, actor="bob", role="analyst", approve=True, comment="go")
    assert refused.value.kind == "forbidden" and "role responder" in refused.value.message
    assert service.engine.advance(run_id) is RunState.WAITING
    assert action.calls == ["before"]
    events = [(e.kind, e.actor) for e in run_store.events(run_id)]
    assert ("approval.refused", "bob") in events


def test_proceeds_after_the_right_approval(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock)
    [pending] = service.pending()
    record = service.decide(pending.id, actor="rita", role="responder", approve=True, comment="yes")
    assert record.state is ApprovalState.APPROVED
    assert service.engine.advance(run_id) is RunState.WAITING  # the admin's approval next
    assert action.calls == ["before", "block"]
    [second] = service.pending()
    service.decide(second.id, actor="root", role="admin", approve=True, comment="ok")
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["before", "block", "after"]
    ok = next(s for s in service.detail(run_id).steps if s.key == "ok")
    assert ok.result == {"approval_id": pending.id, "approved_by": ["rita"]}


def test_two_approvals_from_distinct_people(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock, required=2)
    [pending] = service.pending()
    service.decide(pending.id, actor="rita", role="responder", approve=True, comment="")
    with pytest.raises(ApprovalError, match="already"):
        service.decide(pending.id, actor="rita", role="responder", approve=True, comment="")
    assert service.engine.advance(run_id) is RunState.WAITING
    assert "1 approval(s)" in service.detail(run_id).reason
    service.decide(pending.id, actor="mayor", role="auditor", approve=True, comment="")
    assert service.engine.advance(run_id) is RunState.WAITING  # at ok2
    assert action.calls == ["before", "block"]


def test_stops_on_decline(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock)
    [pending] = service.pending()
    service.decide(pending.id, actor="rita", role="responder", approve=False, comment="it is ours")
    assert service.engine.advance(run_id) is RunState.DECLINED
    assert action.calls == ["before"]
    kinds = [e.kind for e in run_store.events(run_id)]
    assert kinds[-2:] == ["approval.decline", "run.finish"]


def test_decline_can_skip_to_the_next_approval(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock, on_decline="skip")
    [pending] = service.pending()
    service.decide(pending.id, actor="rita", role="responder", approve=False, comment="no")
    assert service.engine.advance(run_id) is RunState.WAITING  # block skipped, waiting at ok2
    states = {s.key: s.state for s in service.detail(run_id).steps}
    assert states["block"] is StepState.SKIPPED and action.calls == ["before"]


def test_stops_on_expiry_and_late_decisions_are_refused(
    run_store: RunStore, clock: FixedClock
) -> None:
    service, action, run_id = start(run_store, clock)
    [pending] = service.pending()
    clock.advance(timedelta(minutes=10))
    assert service.engine.advance(run_id) is RunState.EXPIRED
    with pytest.raises(ApprovalError) as late:
        service.decide(pending.id, actor="rita", role="responder", approve=True, comment="late")
    assert late.value.kind == "conflict"
    assert action.calls == ["before"]
    assert "approval.expire" in [e.kind for e in run_store.events(run_id)]


def test_expiry_can_continue(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock, on_expiry="continue")
    clock.advance(timedelta(hours=1))
    assert service.engine.advance(run_id) is RunState.WAITING  # went on to ok2
    assert action.calls == ["before", "block"]


def test_cancel_withdraws_pending_approvals(run_store: RunStore, clock: FixedClock) -> None:
    service, _, run_id = start(run_store, clock)
    service.cancel(run_id, actor="ana", role="responder", comment="false positive")
    assert service.pending() == []
    assert service.engine.advance(run_id) is RunState.CANCELLED


def test_a_declined_approval_can_be_asked_again(run_store: RunStore, clock: FixedClock) -> None:
    service, action, run_id = start(run_store, clock)
    [first] = service.pending()
    service.decide(first.id, actor="rita", role="responder", approve=False, comment="not yet")
    assert service.engine.advance(run_id) is RunState.DECLINED
    service.retry(run_id, "ok", actor="rita", role="responder")
    assert service.engine.advance(run_id) is RunState.WAITING
    [second] = service.pending()
    assert second.id != first.id
    service.decide(second.id, actor="rita", role="responder", approve=True, comment="now")
    assert service.engine.advance(run_id) is RunState.WAITING  # on to ok2
    assert action.calls == ["before", "block"]
    states = {a.id: a.state for a in run_store.approvals(run_id=run_id)}
    assert (
        states[first.id] is ApprovalState.DECLINED and states[second.id] is ApprovalState.APPROVED
    )


def test_an_engine_that_died_after_asking_does_not_ask_twice(
    run_store: RunStore, clock: FixedClock
) -> None:
    service, _, run_id = start(run_store, clock)
    [asked] = service.pending()
    # As if the engine died after writing the approval and before recording the step waiting.
    run_store.delete_step(run_id, "ok")
    run_store.set_state(run_id, RunState.RUNNING, "", clock.now())
    assert service.engine.advance(run_id) is RunState.WAITING
    assert [a.id for a in service.pending()] == [asked.id]

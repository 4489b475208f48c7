"""The engine: steps recorded before and after they run; a crash never repeats a step that is not
idempotent; retry, skip, cancel; foreach and conditions; failures and retries with backoff."""

from __future__ import annotations

from typing import Any

from cityshield.clock import FixedClock
from response.models import RunState, StepState
from response.schema import Playbook
from response.store import RunStore
from tests.unit.response.conftest import RecordingAction, make_service, sample_alert


def playbook(*steps: dict[str, Any], **more: Any) -> Playbook:
    return Playbook.model_validate({"id": "t", "name": "test", "steps": list(steps), **more})


def step(sid: str, value: str = "", action: str = "test.record", **more: Any) -> dict[str, Any]:
    return {"id": sid, "action": action, "with": {"value": value or sid}, **more}


def test_runs_steps_in_order_with_templates(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction()
    pb = playbook(step("a", "{{ alert.source.ip }}"), step("b", "after {{ steps.a.result.value }}"))
    service = make_service(run_store, clock, [pb], [action])
    run_id = service.start("t", actor="ana", role="responder", alert=sample_alert())
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["203.0.113.66", "after 203.0.113.66"]
    steps = service.detail(run_id).steps
    assert [s.state for s in steps] == [StepState.SUCCEEDED] * 2
    assert steps[0].params == {"value": "203.0.113.66", "fail": False}
    assert steps[0].started_at is not None and steps[0].finished_at is not None


def test_a_crash_mid_step_makes_a_non_idempotent_step_unknown(
    run_store: RunStore, clock: FixedClock
) -> None:
    action = RecordingAction()
    service = make_service(run_store, clock, [playbook(step("a"), step("b"), step("c"))], [action])
    run_id = service.start("t", actor="ana", role="responder")
    # An engine that died in step b: a finished, b started and never recorded finished.
    run_store.set_state(run_id, RunState.RUNNING, "", clock.now())
    run_store.put_step(
        run_id,
        "a",
        step_id="a",
        index=0,
        state=StepState.SUCCEEDED,
        at=clock.now(),
        action="test.record",
        result={"value": "a"},
        attempt=True,
        finished=True,
    )
    run_store.put_step(
        run_id,
        "b",
        step_id="b",
        index=1,
        state=StepState.STARTED,
        at=clock.now(),
        action="test.record",
        attempt=True,
    )
    assert service.engine.advance(run_id) is RunState.NEEDS_ATTENTION
    assert action.calls == []  # neither a again nor b blindly
    detail = service.detail(run_id)
    assert "b was running when the engine stopped" in detail.reason
    assert {s.key: s.state for s in detail.steps} == {
        "a": StepState.SUCCEEDED,
        "b": StepState.UNKNOWN,
    }
    # A person checked: b did not happen. Retry it; the run goes on, a still not repeated.
    service.retry(run_id, "b", actor="ana", role="responder")
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["b", "c"]


def test_a_crash_mid_step_reruns_an_idempotent_step(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction(idempotent=True)
    service = make_service(run_store, clock, [playbook(step("a"), step("b"))], [action])
    run_id = service.start("t", actor="ana", role="responder")
    run_store.set_state(run_id, RunState.RUNNING, "", clock.now())
    run_store.put_step(
        run_id,
        "a",
        step_id="a",
        index=0,
        state=StepState.STARTED,
        at=clock.now(),
        action="test.record",
        attempt=True,
    )
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["a", "b"]
    assert service.detail(run_id).steps[0].attempts == 2


def test_skip_an_unknown_step(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction()
    service = make_service(run_store, clock, [playbook(step("a"), step("b"))], [action])
    run_id = service.start("t", actor="ana", role="responder")
    run_store.set_state(run_id, RunState.RUNNING, "", clock.now())
    run_store.put_step(
        run_id,
        "a",
        step_id="a",
        index=0,
        state=StepState.STARTED,
        at=clock.now(),
        action="test.record",
        attempt=True,
    )
    assert service.engine.advance(run_id) is RunState.NEEDS_ATTENTION
    service.skip(run_id, "a", actor="ana", role="responder", comment="it did happen")
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["b"]


def test_retries_with_backoff_then_fails(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction()
    slept: list[float] = []
    pb = playbook(
        {
            "id": "a",
            "action": "test.record",
            "with": {"value": "x", "fail": "{{ inputs.fail }}"},
            "retry": {"attempts": 3, "backoff": 2, "max_backoff": 3},
        },
        step("b"),
        inputs={"fail": {"type": "boolean", "default": True}},
    )
    service = make_service(run_store, clock, [pb], [action])
    service.engine._sleep = slept.append
    run_id = service.start("t", actor="ana", role="responder")
    assert service.engine.advance(run_id) is RunState.FAILED
    assert action.calls == ["x", "x", "x"]
    assert slept == [1, 1, 1, 1, 1]  # 2 s, then 3 s (the cap), a second at a time
    detail = service.detail(run_id)
    assert detail.steps[0].state is StepState.FAILED and "asked to fail" in (
        detail.steps[0].error or ""
    )
    assert detail.steps[0].attempts == 3
    assert "step a failed" in detail.reason


def test_on_failure_continue_and_when_and_foreach(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction()
    pb = playbook(
        {"id": "bad", "action": "test.record", "with": {"fail": True}, "on_failure": "continue"},
        {
            "id": "each",
            "action": "test.record",
            "foreach": "{{ observables.ip }}",
            "with": {"value": "ip {{ item }}"},
        },
        {
            "id": "never",
            "action": "test.record",
            "when": [{"value": "{{ alert.severity }}", "in": ["low"]}],
        },
        {
            "id": "high",
            "action": "test.record",
            "with": {"value": "sev"},
            "when": [{"value": "{{ alert.severity }}", "equals": "critical"}],
        },
    )
    service = make_service(run_store, clock, [pb], [action])
    run_id = service.start("t", actor="ana", role="responder", alert=sample_alert())
    assert service.engine.advance(run_id) is RunState.SUCCEEDED
    assert action.calls == ["", "ip 203.0.113.66", "ip 198.51.100.10", "sev"]
    states = {s.key: s.state for s in service.detail(run_id).steps}
    assert states == {
        "bad": StepState.FAILED,
        "each#0": StepState.SUCCEEDED,
        "each#1": StepState.SUCCEEDED,
        "never": StepState.SKIPPED,
        "high": StepState.SUCCEEDED,
    }


def test_bad_parameters_fail_the_step_with_a_clear_message(
    run_store: RunStore, clock: FixedClock
) -> None:
    service = make_service(
        run_store,
        clock,
        [
            playbook(
                {
                    "id": "block",
                    "action": "firewall.block_ip",
                    "with": {"ip": "{{ alert.data.user }}"},
                }
            )
        ],
    )
    run_id = service.start("t", actor="ana", role="responder", alert=sample_alert())
    assert service.engine.advance(run_id) is RunState.FAILED
    error = service.detail(run_id).steps[0].error or ""
    assert "ip" in error and "IP" in error


def test_cancel_stops_between_steps(run_store: RunStore, clock: FixedClock) -> None:
    service = make_service(run_store, clock, [playbook(step("a"), step("b"))], [])
    run_id = service.start("t", actor="ana", role="responder")
    service.cancel(run_id, actor="ana", role="responder", comment="false alarm")
    assert service.engine.advance(run_id) is RunState.CANCELLED
    assert service.detail(run_id).steps == []
    kinds = [e.kind for e in run_store.events(run_id)]
    assert kinds == ["run.start", "run.cancel"]


def test_a_template_that_cannot_render_fails_the_run_clearly(
    run_store: RunStore, clock: FixedClock
) -> None:
    action = RecordingAction()
    huge = sample_alert(blob="x" * 40_000)
    pb = playbook(
        step("a"),
        {
            "id": "b",
            "action": "test.record",
            "when": [{"value": "{{ alert.data.blob }}{{ alert.data.blob }}", "exists": True}],
        },
        step("c"),
    )
    service = make_service(run_store, clock, [pb], [action])
    run_id = service.start("t", actor="ana", role="responder", alert=huge)
    assert service.engine.advance(run_id) is RunState.FAILED
    assert action.calls == ["a"]
    assert "step b: renders to more than" in service.detail(run_id).reason
    assert service.engine.advance(run_id) is RunState.FAILED  # stays failed: no loop of retries


def test_cancel_stops_a_long_wait(run_store: RunStore, clock: FixedClock) -> None:
    import threading
    import time

    from response.actions.control import WaitAction

    pb = playbook(
        {"id": "pause", "action": "wait", "timeout": 60, "with": {"seconds": 30}}, step("b")
    )
    action = RecordingAction()
    service = make_service(run_store, clock, [pb], [WaitAction(), action])
    run_id = service.start("t", actor="ana", role="responder")
    done: list[RunState] = []
    worker = threading.Thread(target=lambda: done.append(service.engine.advance(run_id)))
    worker.start()
    deadline = time.monotonic() + 10
    while not any(s.state is StepState.STARTED for s in service.detail(run_id).steps):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    service.cancel(run_id, actor="ana", role="responder", comment="contained already")
    worker.join(10)
    assert done == [RunState.CANCELLED]
    [pause] = service.detail(run_id).steps
    assert pause.state is StepState.FAILED and "cancelled while it waited" in (pause.error or "")
    assert action.calls == []


def test_inputs_are_checked_against_their_types(run_store: RunStore, clock: FixedClock) -> None:
    import pytest

    from cityshield.errors import ActionError

    pb = playbook(
        step("a", "{{ inputs.ip }} {{ inputs.domain }} {{ inputs.n }}"),
        inputs={
            "ip": {"type": "ip", "required": True},
            "domain": {"type": "domain"},
            "n": {"type": "integer", "default": 3},
        },
    )
    action = RecordingAction()
    service = make_service(run_store, clock, [pb], [action])
    run_id = service.start(
        "t", actor="a", role="admin", inputs={"ip": "2001:DB8::1", "domain": "Evil.Example."}
    )
    service.engine.advance(run_id)
    assert action.calls == ["2001:db8::1 evil.example 3"]
    for bad, message in (
        ({}, "input 'ip' is required"),
        ({"ip": "300.1.1.1"}, "not a valid ip"),
        ({"ip": "192.0.2.1", "domain": "not a domain"}, "not a valid domain"),
        ({"ip": "192.0.2.1", "n": "many"}, "not a valid integer"),
        ({"ip": "192.0.2.1", "zz": 1}, "has no input(s) zz"),
    ):
        with pytest.raises(ActionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            service.start("t", actor="a", role="admin", inputs=bad)


def test_disabled_actions(run_store: RunStore, clock: FixedClock) -> None:
    import pytest

    from cityshield.errors import ConfigError
    from response.actions.registry import build_actions
    from response.settings import ResponseSettings

    settings = ResponseSettings(disabled_actions=["firewall.block_ip"])
    assert build_actions(settings).get("firewall.block_ip") is None
    assert build_actions(settings).get("firewall.unblock_ip") is not None
    with pytest.raises(ConfigError, match="no action"):
        build_actions(ResponseSettings(disabled_actions=["firewall.nuke"]))
    pb = playbook({"id": "b", "action": "firewall.block_ip", "with": {"ip": "192.0.2.1"}})
    service = make_service(run_store, clock, [pb], settings=settings)
    run_id = service.start("t", actor="a", role="admin")
    assert service.engine.advance(run_id) is RunState.FAILED
    assert "firewall.block_ip is not available" in service.detail(run_id).reason


def test_apps_built_without_response_settings_touch_nothing_outside() -> None:
    from api.app.config import ApiSettings
    from api.app.response.service import default_response_settings

    settings = default_response_settings(ApiSettings(service_db=":memory:"))
    assert {"firewall.block_ip", "dns.sinkhole_domain", "notify.email", "http.request"} <= set(
        settings.disabled_actions
    )
    assert not settings.auto_start


def test_cancel_during_a_backoff_tries_no_more(run_store: RunStore, clock: FixedClock) -> None:
    action = RecordingAction()
    pb = playbook(
        {
            "id": "a",
            "action": "test.record",
            "with": {"value": "x", "fail": True},
            "retry": {"attempts": 5, "backoff": 30},
        },
    )
    service = make_service(run_store, clock, [pb], [action])
    run_id = service.start("t", actor="ana", role="responder")
    # The first second of the back-off: a person cancels.
    service.engine._sleep = lambda _: service.cancel(run_id, actor="ana", role="responder")
    assert service.engine.advance(run_id) is RunState.CANCELLED
    assert action.calls == ["x"]
    [record] = service.detail(run_id).steps
    assert "cancelled before the next try" in (record.error or "")

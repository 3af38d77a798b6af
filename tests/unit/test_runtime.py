"""The engine runs cases as pure steps: state in, state and effects out."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from iphs_flow.engine import clock, runtime
from iphs_flow.engine.errors import TaskNotReady
from iphs_flow.engine.models import parse_deployment
from tests.bpmn_builder import script_process
from tests.conftest import fixture_files


@pytest.fixture(scope="module")
def review_loop():
    return parse_deployment(fixture_files("review_loop.bpmn"))["review_loop"]


@pytest.fixture(scope="module")
def timers():
    return parse_deployment(fixture_files("timers.bpmn"))["timers"]


def _complete_only_task(model, result, data):
    assert len(result.open_tasks) == 1, result.open_tasks
    return runtime.complete(model, result.state, result.open_tasks[0].id, data)


def test_a_revise_loop_of_1000_rounds_completes_with_bounded_state(review_loop) -> None:
    """SpiffWorkflow alone grows ~0.8 KB a round and breaks near round 250 (DESIGN.md)."""
    result = runtime.start(review_loop, {"title": "Loop"})
    sizes = {}
    for round_no in range(1, 1001):
        result = _complete_only_task(review_loop, result, {"text": f"v{round_no}"})
        result = _complete_only_task(review_loop, result, {"approved": False})
        assert result.status == "running"
        if round_no in (10, 100, 1000):
            sizes[round_no] = (len(result.state_json()), result.tasks_in_state)
    assert sizes[1000][0] <= 1.5 * sizes[10][0]
    assert sizes[1000][1] <= 1.5 * sizes[10][1]
    result = _complete_only_task(review_loop, result, {"text": "final"})
    result = _complete_only_task(review_loop, result, {"approved": True})
    assert result.status == "completed"
    assert result.data["rounds"] == 1001
    assert result.data["text"] == "final"


def test_each_step_reports_what_finished_for_the_history(review_loop) -> None:
    result = runtime.start(review_loop, {})
    result = _complete_only_task(review_loop, result, {"text": "a"})
    kinds = [(s.bpmn_id, s.kind, s.outcome) for s in result.finished]
    assert ("draft", "UserTask", "completed") in kinds
    assert ("count", "ScriptTask", "completed") in kinds
    assert [t.bpmn_id for t in result.open_tasks] == ["review"]


def test_completing_a_task_twice_is_refused(review_loop) -> None:
    first = runtime.start(review_loop, {})
    task_id = first.open_tasks[0].id
    runtime.complete(review_loop, first.state, task_id, {"text": "a"})
    second = runtime.complete(review_loop, first.state, task_id, {"text": "a"})
    with pytest.raises(TaskNotReady):
        runtime.complete(review_loop, second.state, task_id, {"text": "b"})


def test_an_unknown_task_id_is_refused(review_loop) -> None:
    result = runtime.start(review_loop, {})
    with pytest.raises(TaskNotReady):
        runtime.complete(review_loop, result.state, "5b8a3a0e-0000-0000-0000-000000000000", {})
    with pytest.raises(TaskNotReady):
        runtime.complete(review_loop, result.state, "not-a-uuid", {})


def test_the_stored_state_does_not_hold_the_process_spec(review_loop) -> None:
    result = runtime.start(review_loop, {})
    state = json.loads(result.state_json())
    assert "spec" not in state and "subprocess_specs" not in state


def test_timers_wait_for_their_date_and_fire_in_order(timers, frozen_clock) -> None:
    result = runtime.start(timers, {"start_date": "2026-03-16"})  # Monday
    assert result.open_tasks == []
    assert result.next_timer_at.isoformat() == "2026-03-15T23:00:00+00:00"  # 00:00 Stockholm
    assert runtime.fire_timers(timers, result.state).open_tasks == []  # not due yet

    clock.freeze(result.next_timer_at + timedelta(seconds=1))
    result = runtime.fire_timers(timers, result.state)
    assert [t.bpmn_id for t in result.open_tasks] == ["decide"]
    decide = result.open_tasks[0]
    assert decide.due_at.date().isoformat() == "2026-03-29"  # 10 working days, 00:00 Stockholm
    # The non-interrupting reminder at working day 5 (Monday 23 March) is the next timer.
    assert result.next_timer_at.astimezone(clock.timezone.utc).date().isoformat() == "2026-03-22"

    clock.freeze(result.next_timer_at + timedelta(minutes=1))
    result = runtime.fire_timers(timers, result.state)
    assert [n.template for n in result.notifications] == ["reminder"]
    assert result.notifications[0].about_task == "decide"
    assert [t.bpmn_id for t in result.open_tasks] == ["decide"]  # still open

    clock.freeze(result.next_timer_at + timedelta(minutes=1))
    result = runtime.fire_timers(timers, result.state)
    assert [t.bpmn_id for t in result.open_tasks] == ["escalated"]  # interrupting: decide is gone
    assert result.open_tasks[0].candidate_group == "unit-managers"
    assert ("decide", "cancelled") in [(s.bpmn_id, s.outcome) for s in result.finished]
    assert result.next_timer_at is None


def test_a_script_that_tries_to_escape_puts_the_case_in_incident() -> None:
    model = parse_deployment({"s.bpmn": script_process("secret = open('/etc/passwd').read()")})["script_case"]
    result = runtime.start(model, {})
    result = runtime.complete(model, result.state, result.open_tasks[0].id, {"divisor": 1})
    assert result.status == "incident"
    assert "open" in result.incident and "Kör skript" in result.incident
    assert result.open_tasks == []
    assert "secret" not in result.data


def test_an_endless_script_is_stopped_and_becomes_an_incident() -> None:
    model = parse_deployment({"s.bpmn": script_process("while True:\n    pass")})["script_case"]
    result = runtime.start(model, {})
    result = runtime.complete(model, result.state, result.open_tasks[0].id, {"divisor": 1}, time_limit=0.2)
    assert result.status == "incident"
    assert "longer than" in result.incident


def test_retrying_an_incident_whose_cause_remains_keeps_it_in_incident() -> None:
    model = parse_deployment({"s.bpmn": script_process("total = 100 // divisor")})["script_case"]
    result = runtime.start(model, {})
    result = runtime.complete(model, result.state, result.open_tasks[0].id, {"divisor": 0})
    assert result.status == "incident" and "division" in result.incident
    still = runtime.retry(model, result.state)
    assert still.status == "incident"


def _decision_model(**table):
    from tests.bpmn_builder import decision_process, decision_table

    return parse_deployment({"d.bpmn": decision_process(), "routing.dmn": decision_table(**table)})["decision_case"]


def test_a_decision_table_routes_the_task_to_the_deciding_group() -> None:
    model = _decision_model()
    assert runtime.start(model, {"budget": 100_000}).open_tasks[0].candidate_group == "unit-managers"
    assert runtime.start(model, {"budget": 9_000_000}).open_tasks[0].candidate_group == "city-executive-office"


def test_a_decision_cell_that_tries_to_escape_is_an_incident() -> None:
    model = _decision_model(output_entry="open('/etc/passwd').read()")
    result = runtime.start(model, {"budget": 1})
    assert result.status == "incident" and "open" in result.incident
    model = _decision_model(input_entry="&lt; len(str(().__class__))")
    result = runtime.start(model, {"budget": 1})
    assert result.status == "incident" and "not allowed" in result.incident

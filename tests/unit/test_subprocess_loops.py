"""Embedded subprocesses and call activities run round after round with flat state."""

from __future__ import annotations

import pytest

from iphs_flow.engine import runtime
from iphs_flow.engine.models import parse_deployment
from tests.bpmn_graph import called_process, end, node, process, start, sub, user

ROUNDS = 300


def _loop(inner: str, extra: str = "") -> bytes:
    """start -> [inner] -> A -> B -> gateway: done? end : back to [inner]."""
    return process("looping", [
        start(), inner, user("a", "A"), user("b", "B"),
        node("exclusiveGateway", "again", default="f_again_inner"), end(),
    ], ["start>inner", "inner>a", "a>b", "b>again", ("again", "end", "done == True"), "again>inner"],
        extra_processes=extra)


def _model(xml: bytes):
    return parse_deployment({"loop.bpmn": xml})["looping"]


EMBEDDED = _loop(sub("inner", [start("s_start"), user("s_task", "S"), end("s_end")],
                     ["s_start>s_task", "s_task>s_end"]))
CALLED = _loop(node("callActivity", "inner", calledElement="child"),
               called_process("child", [start("c_start"), user("c_task", "C"), end("c_end")],
                              ["c_start>c_task", "c_task>c_end"]))


def _complete(model, result, bpmn_id, data):
    assert result.status == "running", result.incident
    [task] = [t for t in result.open_tasks if t.bpmn_id == bpmn_id]
    return runtime.complete(model, result.state, task.id, data)


@pytest.mark.parametrize(("xml", "inner_task"), [(EMBEDDED, "s_task"), (CALLED, "c_task")],
                         ids=["embedded subprocess", "call activity"])
def test_a_case_loops_300_times_through_a_subprocess_with_flat_state(xml, inner_task) -> None:
    model = _model(xml)
    result = runtime.start(model, {})
    sizes = {}
    for round_no in range(1, ROUNDS + 1):
        result = _complete(model, result, inner_task, {"inner": round_no})
        result = _complete(model, result, "a", {})
        result = _complete(model, result, "b", {"done": round_no == ROUNDS})
        if round_no in (10, ROUNDS):
            sizes[round_no] = (len(result.state_json()), result.tasks_in_state)
    assert result.status == "completed", result.incident
    assert result.data["inner"] == ROUNDS
    assert sizes[ROUNDS][0] <= 1.3 * sizes[10][0]
    assert sizes[ROUNDS][1] <= 1.3 * sizes[10][1]


def test_a_task_after_a_finished_subprocess_can_be_completed() -> None:
    """The reported bug: A after the subprocess, then B; completing A raised TaskNotFoundException."""
    model = _model(EMBEDDED)
    result = runtime.start(model, {})
    result = _complete(model, result, "s_task", {})
    result = _complete(model, result, "a", {})
    assert [t.bpmn_id for t in result.open_tasks] == ["b"]
    result = _complete(model, result, "b", {"done": True})
    assert result.status == "completed"


def test_a_stored_state_that_cannot_be_loaded_is_an_incident_that_keeps_the_state() -> None:
    model = _model(EMBEDDED)
    result = runtime.start(model, {})
    broken = dict(result.state)
    broken["tasks"] = {"not-a-uuid": {}}
    step = runtime.fire_timers(model, broken)
    assert step.status == "incident"
    assert "could not run this step" in step.incident
    assert step.state == broken

"""Event subprocesses inside an embedded subprocess act on that subprocess's scope, and only on it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.engine import clock, runtime
from iphs_flow.engine.models import parse_deployment
from tests.bpmn_graph import end, error, escalation, message, node, process, signal, start, sub, timer, user

ROUNDS = 300
DEFS = ('<bpmn:message id="answer" name="svar" /><bpmn:signal id="stop" name="stopp" />'
        '<bpmn:error id="E1" name="E1" errorCode="budget_exceeded" />'
        '<bpmn:escalation id="X" name="X" escalationCode="late" />')
TRIGGERS = {"message": message("answer"), "signal": signal("stop"), "timer": timer('"PT1H"'),
            "error": error("E1"), "escalation": escalation("X")}
THROWS = {"error": error("E1"), "escalation": escalation("X")}


def _model(trigger: str, interrupting: bool = True) -> runtime.ProcessModel:
    """A pilot (embedded subprocess) with an event subprocess; beside it a top-level task 'other'.

    Inside the pilot, 'work' either ends normally or (fail == 1) at an end event throwing
    the error/escalation; after the pilot comes 'after', then 'again' loops back.
    """
    inner = [start("p_start"), user("work"), node("exclusiveGateway", "ok", default="pilot_f_ok_p_end"),
             end("p_end"), end("p_throw", THROWS.get(trigger, "")),
             sub("handler", [start("h_start", TRIGGERS[trigger], interrupting=interrupting), user("handle"),
                             end("h_end")], ["h_start>handle", "handle>h_end"], event=True)]
    flows = ["p_start>work", "work>ok", ("ok", "p_throw", "value(\"fail\") == 1"), "ok>p_end"]
    elements = [start(), node("exclusiveGateway", "back"), node("parallelGateway", "fork"),
                sub("pilot", inner, flows), user("after"), user("other"), node("parallelGateway", "join"),
                node("exclusiveGateway", "again", default="f_again_end"), end()]
    top = ["start>back", "back>fork", "fork>pilot", "fork>other", "pilot>after", "after>join", "other>join",
           "join>again", ("again", "back", "loop == True"), "again>end"]
    return parse_deployment({"scoped.bpmn": process("scoped", elements, top, definitions=DEFS)})["scoped"]


def _open(result) -> list[str]:
    assert result.status in ("running", "completed"), result.incident
    return sorted(t.bpmn_id for t in result.open_tasks)


def _do(model, result, bpmn_id: str, data: dict | None = None):
    task = next(t for t in result.open_tasks if t.bpmn_id == bpmn_id)
    return runtime.complete(model, result.state, task.id, data or {})


def _trigger(model, result, trigger: str):
    if trigger == "message":
        return runtime.deliver(model, result.state, "message", "svar", {"reply": "ja"})
    if trigger == "signal":
        return runtime.deliver(model, result.state, "signal", "stopp", {})
    if trigger == "timer":
        clock.advance(timedelta(hours=2))
        return runtime.fire_timers(model, result.state)
    return _do(model, result, "work", {"fail": 1})


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_an_interrupting_event_subprocess_ends_its_subprocess_and_only_it(trigger, frozen_clock) -> None:
    model = _model(trigger)
    result = runtime.start(model, {})
    assert _open(result) == ["other", "work"]  # nothing fired yet: an error handler does not run at the start
    result = _trigger(model, result, trigger)
    assert _open(result) == ["handle", "other"]  # 'work' is cancelled, 'other' outside the pilot is not
    if trigger not in THROWS:
        assert ("work", "cancelled") in {(s.bpmn_id, s.outcome) for s in result.finished}
    result = _do(model, result, "handle")
    assert _open(result) == ["after", "other"]  # the pilot ended with its handler; the case goes on
    result = _do(model, _do(model, result, "after"), "other", {"loop": False})
    assert result.status == "completed"


@pytest.mark.parametrize("trigger", ["message", "signal", "timer", "escalation"])
def test_a_non_interrupting_event_subprocess_runs_beside_its_subprocess(trigger, frozen_clock) -> None:
    model = _model(trigger, interrupting=False)
    result = runtime.start(model, {})
    result = _trigger(model, result, trigger)
    expected = ["handle", "other"] if trigger == "escalation" else ["handle", "other", "work"]
    assert _open(result) == expected  # an escalation end event ended 'work' itself
    result = _do(model, result, "handle")
    if trigger != "escalation":
        assert _open(result) == ["other", "work"]  # the pilot is still running
        result = _do(model, result, "work")
    assert _open(result) == ["after", "other"]


@pytest.mark.parametrize("trigger", ["message", "error", "timer"])
def test_a_scope_interrupted_round_after_round_keeps_the_state_flat(trigger, frozen_clock) -> None:
    model = _model(trigger)
    result = runtime.start(model, {})
    sizes = {}
    for n in range(1, ROUNDS + 1):
        assert _open(result) == ["other", "work"], n
        interrupted = n % 2 == 1
        result = _do(model, _trigger(model, result, trigger), "handle") if interrupted else _do(model, result, "work")
        result = _do(model, _do(model, result, "after"), "other", {"loop": True})
        if n in (10, ROUNDS):
            sizes[n] = (len(result.state_json()), result.tasks_in_state)
    assert sizes[ROUNDS][0] <= 1.3 * sizes[10][0] and sizes[ROUNDS][1] <= 1.3 * sizes[10][1], sizes


def test_a_message_for_a_scope_that_is_not_running_is_not_awaited() -> None:
    model = _model("message")
    result = runtime.start(model, {})
    assert ("message", "svar") in result.waiting
    result = _do(model, result, "work")
    assert ("message", "svar") not in result.waiting  # the pilot is over: its handler cannot start


def test_a_case_ends_with_its_flow_while_its_timer_event_subprocess_still_waits(frozen_clock) -> None:
    model = parse_deployment({"waits.bpmn": process("waits", [
        start(), user("work"), end(),
        sub("remind", [start("r_start", timer('"P30D"'), interrupting=False), user("chase"), end("r_end")],
            ["r_start>chase", "chase>r_end"], event=True)], ["start>work", "work>end"], definitions=DEFS)})["waits"]
    result = runtime.start(model, {})
    assert result.next_timer_at is not None
    assert _do(model, result, "work").status == "completed"


def test_a_message_event_subprocess_that_fired_in_one_case_does_not_start_in_the_next() -> None:
    model = parse_deployment({"asks.bpmn": process("asks", [
        start(), user("work"), end(),
        sub("on_answer", [start("a_start", message("answer"), interrupting=False), user("read"), end("a_end")],
            ["a_start>read", "read>a_end"], event=True)], ["start>work", "work>end"], definitions=DEFS)})["asks"]
    first = runtime.deliver(model, runtime.start(model, {}).state, "message", "svar", {})
    assert _open(first) == ["read", "work"]
    second = runtime.start(model, {})  # the same parsed model: the first case's trigger left no trace in it
    assert _open(second) == ["work"]
    assert _do(model, second, "work").status == "completed"


def test_an_error_thrown_outside_a_subprocess_does_not_start_the_subprocess_handler() -> None:
    model = parse_deployment({"outside.bpmn": process("outside", [
        start(), node("parallelGateway", "fork"),
        sub("pilot", [start("p_start"), user("work"), end("p_end"),
                      sub("handler", [start("h_start", error("E1")), user("handle"), end("h_end")],
                          ["h_start>handle", "handle>h_end"], event=True)], ["p_start>work", "work>p_end"]),
        user("other"), end("boom", error("E1")), end()],
        ["start>fork", "fork>pilot", "fork>other", "other>boom", "pilot>end"], definitions=DEFS)})["outside"]
    result = runtime.start(model, {})
    assert _open(result) == ["other", "work"]
    failed = _do(model, result, "other")
    assert failed.status == "incident" and "'budget_exceeded'" in failed.incident  # not the pilot's to handle

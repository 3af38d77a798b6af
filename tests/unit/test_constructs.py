"""Every construct a designer can deploy runs, round after round, with flat state."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.engine import clock, runtime
from iphs_flow.engine.models import parse_deployment
from tests.bpmn_graph import boundary, end, error, escalation, message, node, process, signal, start, sub, timer, user

ROUNDS = 300
MESSAGES = ('<bpmn:message id="answer" name="svar" /><bpmn:message id="hello" name="hej" />'
            '<bpmn:signal id="stop" name="stopp" /><bpmn:error id="E1" name="E1" errorCode="budget_exceeded" />'
            '<bpmn:escalation id="X" name="X" escalationCode="late" />')


def _model(key: str, elements: list[str], flows: list) -> runtime.ProcessModel:
    return parse_deployment({f"{key}.bpmn": process(key, elements, flows, definitions=MESSAGES)})[key]


def _open(result) -> list[str]:
    assert result.status in ("running", "completed"), result.incident
    return sorted(t.bpmn_id for t in result.open_tasks)


def _do(model, result, bpmn_id: str, data: dict | None = None):
    task = next(t for t in result.open_tasks if t.bpmn_id == bpmn_id)
    return runtime.complete(model, result.state, task.id, data or {})


def _flat(sizes: dict[int, tuple[int, int]]) -> None:
    first, last = sizes[min(sizes)], sizes[max(sizes)]
    assert last[0] <= 1.3 * first[0] and last[1] <= 1.3 * first[1], sizes


def _loop_back(model, result, rounds: int, one_round) -> None:
    """Run `one_round(result, n)` `rounds` times; the stored state must not grow."""
    sizes = {}
    for n in range(1, rounds + 1):
        result = one_round(result, n)
        if n in (10, rounds):
            sizes[n] = (len(result.state_json()), result.tasks_in_state)
    _flat(sizes)
    return result


AGAIN = [node("exclusiveGateway", "again", default="f_again_end"), end()]


def test_an_event_based_gateway_schedules_its_timer_and_takes_the_branch_that_happens_first(frozen_clock) -> None:
    model = _model("ebg", [start(), node("eventBasedGateway", "gw"),
                           node("intermediateCatchEvent", "too_late", timer('"P1D"')),
                           node("intermediateCatchEvent", "answered", message("answer")),
                           user("remind"), user("read"), *AGAIN],
                   ["start>gw", "gw>too_late", "gw>answered", "too_late>remind", "answered>read",
                    "remind>again", "read>again", ("again", "gw", "loop == True"), "again>end"])
    result = runtime.start(model, {})

    def one_round(result, n):
        assert result.next_timer_at == clock.now() + timedelta(days=1)
        assert ("message", "svar") in result.waiting
        if n % 2:
            clock.advance(timedelta(days=1, seconds=1))
            result = runtime.fire_timers(model, result.state)
            assert _open(result) == ["remind"]
            return _do(model, result, "remind", {"loop": True})
        result = runtime.deliver(model, result.state, "message", "svar", {"reply": n})
        assert _open(result) == ["read"] and result.next_timer_at is None
        return _do(model, result, "read", {"loop": True})

    result = _loop_back(model, result, ROUNDS, one_round)
    result = runtime.deliver(model, result.state, "message", "svar", {})
    assert _do(model, result, "read", {"loop": False}).status == "completed"


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_three_evaluators_score_a_concept_and_the_scores_are_collected(sequential) -> None:
    mi = (f'<bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}">'
          "<bpmn:loopDataInputRef>evaluators</bpmn:loopDataInputRef>"
          "<bpmn:loopDataOutputRef>scores</bpmn:loopDataOutputRef>"
          '<bpmn:inputDataItem id="evaluator" name="evaluator" /><bpmn:outputDataItem id="score" name="score" />'
          "</bpmn:multiInstanceLoopCharacteristics>")
    model = _model("scoring", [start(), user("rate", "Poängsätt", inner=mi, assignee="evaluator"), user("decide"),
                               *AGAIN],
                   ["start>rate", "rate>decide", "decide>again", ("again", "rate", "loop == True"), "again>end"])
    result = runtime.start(model, {"evaluators": ["eva", "erik", "ella"]})

    def one_round(result, n):
        given = []
        while any(t.bpmn_id == "rate" for t in result.open_tasks):
            rating = [t for t in result.open_tasks if t.bpmn_id == "rate"]
            assert len(rating) == (1 if sequential else 3 - len(given))
            task = rating[0]
            given.append(task.assignee)
            result = runtime.complete(model, result.state, task.id, {"score": len(given) + n})
        assert sorted(given) == ["ella", "erik", "eva"]
        assert sorted(result.data["scores"]) == [n + 1, n + 2, n + 3]
        # A new round starts with an empty collection (the engine does not overwrite a filled one).
        return _do(model, result, "decide", {"loop": True, "scores": []})

    _loop_back(model, result, 100, one_round)


def test_parallel_and_inclusive_gateways_join_their_branches_round_after_round() -> None:
    model = _model("gateways", [start(), node("exclusiveGateway", "back"), node("parallelGateway", "fork"),
                                user("a"), user("b"),
                                node("parallelGateway", "join"), node("inclusiveGateway", "pick"), user("c"), user("d"),
                                node("inclusiveGateway", "merge"), *AGAIN],
                   ["start>back", "back>fork", "fork>a", "fork>b", "a>join", "b>join", "join>pick",
                    ("pick", "c", "x > 1"), ("pick", "d", "x > 5"), "c>merge", "d>merge", "merge>again",
                    ("again", "back", "loop == True"), "again>end"])
    result = runtime.start(model, {})

    def one_round(result, n):
        assert _open(result) == ["a", "b"]
        x = 6 if n % 2 else 2
        result = _do(model, result, "a", {"x": x})
        result = _do(model, result, "b", {"x": x})  # both branches carry x into the join
        expected = ["c", "d"] if n % 2 else ["c"]
        assert _open(result) == expected
        for bpmn_id in expected:
            result = _do(model, result, bpmn_id, {"loop": True})
        return result

    _loop_back(model, result, ROUNDS, one_round)


def test_a_timer_on_a_subprocess_interrupts_it_and_an_error_inside_is_caught_by_its_boundary(frozen_clock) -> None:
    model = _model("guarded", [
        start(), sub("work", [start("w_start"), user("draft"),
                              node("exclusiveGateway", "ok", default="work_f_ok_w_end"),
                              end("w_end"), end("w_fail", error("E1"))],
                     ["w_start>draft", "draft>ok", ("ok", "w_fail", "broken == True"), "ok>w_end"]),
        boundary("late", "work", timer('"PT1H"')), boundary("failed", "work", error("E1")),
        user("chase"), user("repair"), user("done"), *AGAIN],
        ["start>work", "work>done", "late>chase", "failed>repair", "chase>again", "repair>again", "done>again",
         ("again", "work", "loop == True"), "again>end"])
    result = runtime.start(model, {})

    def one_round(result, n):
        assert _open(result) == ["draft"] and result.next_timer_at is not None
        if n % 3 == 0:
            clock.advance(timedelta(hours=2))
            result = runtime.fire_timers(model, result.state)
            assert _open(result) == ["chase"]
            return _do(model, result, "chase", {"loop": True})
        result = _do(model, result, "draft", {"broken": n % 3 == 1})
        follow = "repair" if n % 3 == 1 else "done"
        assert _open(result) == [follow]
        return _do(model, result, follow, {"loop": True})

    _loop_back(model, result, ROUNDS, one_round)


def test_event_subprocesses_interrupt_or_run_beside_the_process(frozen_clock) -> None:
    model = _model("events", [
        start(), user("work"), end(),
        sub("on_answer", [start("a_start", message("answer")), user("handle"), end("a_end")],
            ["a_start>handle", "handle>a_end"], event=True),
        sub("on_time", [start("t_start", timer('"PT1H"'), interrupting=False), user("remind"), end("t_end")],
            ["t_start>remind", "remind>t_end"], event=True)],
        ["start>work", "work>end"])
    result = runtime.start(model, {})
    clock.advance(timedelta(hours=2))
    result = runtime.fire_timers(model, result.state)
    assert _open(result) == ["remind", "work"]  # non-interrupting: work stays
    result = runtime.deliver(model, result.state, "message", "svar", {"reply": "ja"})
    assert _open(result) == ["handle"]  # interrupting: everything else in the process is cancelled
    assert {("work", "cancelled"), ("remind", "cancelled")} <= {(s.bpmn_id, s.outcome) for s in result.finished}
    done = _do(model, result, "handle")
    assert done.status == "completed"


def test_message_catch_receive_task_boundary_and_start_deliver_their_payload() -> None:
    model = _model("talk", [start(), node("intermediateCatchEvent", "wait", message("answer")),
                            node("receiveTask", "receive", messageRef="hello"), user("work"),
                            boundary("stopped", "work", signal("stop")), user("after"), user("wrap_up"), end(),
                            end("e2")],
                   ["start>wait", "wait>receive", "receive>work", "work>after", "after>end", "stopped>wrap_up",
                    "wrap_up>e2"])
    result = runtime.start(model, {})
    assert result.waiting == [("message", "svar")]
    with pytest.raises(runtime.TaskNotReady):
        runtime.deliver(model, result.state, "message", "hej", {})
    result = runtime.deliver(model, result.state, "message", "svar", {"a": 1})
    assert result.waiting == [("message", "hej")]
    result = runtime.deliver(model, result.state, "message", "hej", {"b": 2})
    assert _open(result) == ["work"] and result.waiting == [("signal", "stopp")]
    result = runtime.deliver(model, result.state, "signal", "stopp", {})
    assert _open(result) == ["wrap_up"] and (result.data["a"], result.data["b"]) == (1, 2)

    starter = _model("applied", [start("received", message("hello")), user("assess"), end()],
                     ["received>assess", "assess>end"])
    begun = runtime.start_by(starter, "message", "hej", {"title": "Solceller"})
    assert _open(begun) == ["assess"] and begun.data["title"] == "Solceller"


@pytest.mark.parametrize(("definition", "code"), [(error("E1"), "budget_exceeded"), (escalation("X"), "late")],
                         ids=["error", "escalation"])
def test_an_uncaught_error_or_escalation_is_an_incident_with_its_code(definition, code) -> None:
    model = _model("throws", [start(), user("work"), node("intermediateThrowEvent", "raise", definition), user("after"),
                              end()], ["start>work", "work>raise", "raise>after", "after>end"])
    if "error" in definition:
        model = _model("throws", [start(), user("work"), end("raise", definition)], ["start>work", "work>raise"])
    result = _do(model, runtime.start(model, {}), "work")
    assert result.status == "incident"
    assert f"'{code}' was thrown and nothing in the process catches it" in result.incident


def test_a_caught_escalation_takes_its_path_and_the_subprocess_goes_on() -> None:
    model = _model("noted", [
        start(), sub("s", [start("s_start"), node("intermediateThrowEvent", "shout", escalation("X")), user("inner"),
                           end("s_end")], ["s_start>shout", "shout>inner", "inner>s_end"]),
        boundary("heard", "s", escalation("X"), cancel=False), user("note"), user("after"), end(), end("e2")],
        ["start>s", "s>after", "heard>note", "note>e2", "after>end"])
    result = runtime.start(model, {})
    assert _open(result) == ["inner", "note"]


def test_terminate_ends_every_branch_and_cancel_leaves_a_transaction_by_its_boundary() -> None:
    terminate = _model("terminating", [start(), node("parallelGateway", "fork"), user("a"),
                                       end("stop", "<bpmn:terminateEventDefinition />"), end()],
                       ["start>fork", "fork>a", "fork>stop", "a>end"])
    assert runtime.start(terminate, {}).status == "completed"
    cancel = _model("cancelling", [
        start(), sub("tx", [start("t_start"), user("pay"), node("exclusiveGateway", "ok", default="tx_f_ok_t_end"),
                            end("t_end"), end("t_cancel", "<bpmn:cancelEventDefinition />")],
                     ["t_start>pay", "pay>ok", ("ok", "t_cancel", "abort == True"), "ok>t_end"], tag="transaction"),
        boundary("cancelled", "tx", "<bpmn:cancelEventDefinition />"), user("refund"), user("ship"), end()],
        ["start>tx", "tx>ship", "cancelled>refund", "refund>end", "ship>end"])
    result = runtime.start(cancel, {})
    assert _open(_do(cancel, result, "pay", {"abort": True})) == ["refund"]
    assert _open(_do(cancel, result, "pay", {"abort": False})) == ["ship"]


def test_link_events_jump_within_a_process_round_after_round() -> None:
    model = _model("linked", [start(), user("a"), node("intermediateThrowEvent", "go",
                                                       '<bpmn:linkEventDefinition name="vidare" />'),
                              node("intermediateCatchEvent", "land", '<bpmn:linkEventDefinition name="vidare" />'),
                              user("b"), *AGAIN],
                   ["start>a", "a>go", "land>b", "b>again", ("again", "a", "loop == True"), "again>end"])
    result = runtime.start(model, {})

    def one_round(result, n):
        result = _do(model, result, "a")
        assert _open(result) == ["b"]
        return _do(model, result, "b", {"loop": True})

    _loop_back(model, result, ROUNDS, one_round)

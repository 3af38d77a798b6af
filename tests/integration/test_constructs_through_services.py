"""Constructs through the service layer: what a case page and the inbox show for each."""

from __future__ import annotations

from datetime import timedelta

from iphs_flow.engine import clock
from iphs_flow.services import cases, messages, processes, timers
from iphs_flow.services.permissions import Actor
from tests.bpmn_graph import boundary, end, error, message, node, process, start, sub, timer, user
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD

DEFS = '<bpmn:message id="answer" name="svar" /><bpmn:error id="E1" name="E1" errorCode="budget_exceeded" />'


def _deploy(ctx, key, elements, flows):
    processes.deploy_process(ctx, {f"{key}.bpmn": process(key, elements, flows, definitions=DEFS)}, DESIGNER)


def test_the_timer_behind_an_event_based_gateway_is_scheduled_and_fires(ctx, frozen_clock) -> None:
    _deploy(ctx, "ebg", [start(), node("eventBasedGateway", "gw"),
                         node("intermediateCatchEvent", "too_late", timer('"P2D"')),
                         node("intermediateCatchEvent", "answered", message("answer")),
                         user("remind", "Påminn"), user("read", "Läs"), end(), end("e2")],
            ["start>gw", "gw>too_late", "gw>answered", "too_late>remind", "answered>read", "remind>end", "read>e2"])
    view = cases.start_case(ctx, "ebg", {}, ANNA)
    assert view.next_timer_at == clock.now() + timedelta(days=2)
    clock.advance(timedelta(days=2, minutes=1))
    assert timers.fire_due_timers(ctx).fired == 1
    after = cases.get_case(ctx, view.number, ADMIN)
    assert [t.task_key for t in after.case.open_tasks] == ["remind"]
    answered = cases.start_case(ctx, "ebg", {}, ANNA)
    messages.deliver_message(ctx, "svar", {"case_number": answered.number}, {}, LEAD)
    detail = cases.get_case(ctx, answered.number, ADMIN)
    assert [t.task_key for t in detail.case.open_tasks] == ["read"] and detail.case.next_timer_at is None


def test_three_evaluators_each_get_their_task_and_their_scores_are_collected(ctx) -> None:
    mi = ("<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>evaluators</bpmn:loopDataInputRef>"
          "<bpmn:loopDataOutputRef>scores</bpmn:loopDataOutputRef>"
          '<bpmn:inputDataItem id="evaluator" name="evaluator" /><bpmn:outputDataItem id="score" name="score" />'
          "</bpmn:multiInstanceLoopCharacteristics>")
    _deploy(ctx, "scoring", [start(), user("rate", "Poängsätt", form=None, inner=mi, assignee="evaluator"),
                             user("decide"), end()], ["start>rate", "rate>decide", "decide>end"])
    view = cases.start_case(ctx, "scoring", {"evaluators": ["eva", "erik", "ella"]}, ANNA)
    assert sorted(t.assignee for t in view.open_tasks) == ["ella", "erik", "eva"]
    for score, task in enumerate(view.open_tasks, start=3):
        view = cases.complete_task(ctx, task.id, {"score": score}, Actor(task.assignee, frozenset({"idea_owner"})))
    assert [t.task_key for t in view.open_tasks] == ["decide"]
    assert sorted(cases.get_case(ctx, view.number, ADMIN).data["scores"]) == [3, 4, 5]


def test_an_uncaught_error_end_event_is_an_incident_with_its_code_not_a_completed_case(ctx) -> None:
    _deploy(ctx, "failing", [start(), user("work"), end("boom", error("E1"))], ["start>work", "work>boom"])
    view = cases.start_case(ctx, "failing", {}, ANNA)
    after = cases.complete_task(ctx, view.open_tasks[0].id, {"divisor": 1}, ANNA)
    assert after.status == "incident"
    assert "'budget_exceeded'" in after.incident


def test_a_cancel_end_event_in_a_transaction_takes_the_cancel_boundary(ctx) -> None:
    _deploy(ctx, "cancelling", [
        start(), sub("tx", [start("t_start"), end("t_cancel", "<bpmn:cancelEventDefinition />")], ["t_start>t_cancel"],
                     tag="transaction"),
        boundary("cancelled", "tx", "<bpmn:cancelEventDefinition />"), user("refund", "Återbetala"), user("ship"),
        end(), end("e2")], ["start>tx", "tx>ship", "cancelled>refund", "refund>end", "ship>e2"])
    view = cases.start_case(ctx, "cancelling", {}, ANNA)
    assert view.status == "running" and [t.task_key for t in view.open_tasks] == ["refund"]

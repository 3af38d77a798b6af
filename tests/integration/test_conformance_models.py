"""Models as a Camunda Modeler user uploads them (BPMN MIWG style): what runs, runs; what cannot is refused.

A collaboration with pools and message flows, data objects, data stores, text annotations
and groups deploys and runs. Timer values written as Camunda Modeler writes them (PT1H,
R3/PT1H, a date with its zone) run as written. Constructs the engine cannot run are
refused at deploy with a message naming the element and what to draw instead: never
accepted and then broken in a running case.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import cases, messages, processes, timers
from iphs_flow.services.errors import InvalidProcess
from tests.bpmn_graph import boundary, end, node, process, start, sub, user
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD

CONFORMANCE = Path(__file__).parent.parent / "fixtures" / "conformance"


def _timer(tag: str, value: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:{tag}>{value}</bpmn:{tag}></bpmn:timerEventDefinition>"


def _open(view) -> list[str]:
    assert view.status in ("running", "completed"), view.incident
    return sorted(t.task_key for t in view.open_tasks)


def test_a_collaboration_with_pools_message_flows_and_artifacts_deploys_and_runs(ctx) -> None:
    files = {"collaboration.bpmn": (CONFORMANCE / "collaboration.bpmn").read_bytes()}
    assert [o.key for o in processes.deploy_process(ctx, files, DESIGNER)] == ["conformance_collab"]
    started = messages.deliver_message(ctx, "ansokan_inkommen", {}, {"title": "Cykelpool"}, LEAD)
    assert started.started
    view = cases.get_case(ctx, started.case_number, ADMIN).case
    assert _open(view) == ["Task_check"]
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"divisor": 2}, LEAD)  # incomplete: ask for more
    assert _open(view) == []
    messages.deliver_message(ctx, "komplettering", {"case_number": view.number}, {"bilaga": "budget.pdf"}, LEAD)
    detail = cases.get_case(ctx, view.number, ADMIN)
    assert _open(detail.case) == ["Task_decide"] and detail.data["bilaga"] == "budget.pdf"
    done = cases.complete_task(ctx, detail.case.open_tasks[0].id, {"divisor": 1}, LEAD)
    assert done.status == "completed"


def test_timers_written_as_camunda_modeler_writes_them_run_as_written(ctx, frozen_clock) -> None:
    elements = [start(), node("intermediateCatchEvent", "wait", _timer("timeDuration", "PT1H")),
                user("work", "Arbeta"),
                boundary("remind", "work", _timer("timeCycle", "R3/PT1H"), cancel=False), user("chase", "Påminn"),
                node("intermediateCatchEvent", "until", _timer("timeDate", "2026-12-01T10:00:00+01:00")),
                user("report", "Rapportera"), end(), end("chased")]
    flows = ["start>wait", "wait>work", "work>until", "until>report", "report>end", "remind>chase", "chase>chased"]
    processes.deploy_process(ctx, {"timers.bpmn": process("camunda_timers", elements, flows)}, DESIGNER)
    view = cases.start_case(ctx, "camunda_timers", {}, ANNA)
    assert view.next_timer_at == clock.now() + timedelta(hours=1)  # PT1H: one hour, not a field named PT1H
    clock.advance(timedelta(hours=1, minutes=1))
    timers.fire_due_timers(ctx)
    for reminders in (1, 2, 3, 3):  # R3/PT1H: a reminder every hour, three times
        clock.advance(timedelta(hours=1, seconds=1))  # a timer fires once its moment has passed
        timers.fire_due_timers(ctx)
        view = cases.get_case(ctx, view.number, ADMIN).case
        assert _open(view).count("chase") == reminders
    work = next(t for t in view.open_tasks if t.task_key == "work")
    view = cases.complete_task(ctx, work.id, {"divisor": 1}, ANNA)
    assert view.next_timer_at == datetime.fromisoformat("2026-12-01T09:00:00+00:00")  # the zone is kept
    clock.freeze(datetime.fromisoformat("2026-12-01T09:00:01+00:00"))
    timers.fire_due_timers(ctx)
    assert "report" in _open(cases.get_case(ctx, view.number, ADMIN).case)


CAMUNDA_TASK_WITH = ('<bpmn:userTask id="work" name="Arbeta" camunda:formKey="formula"><bpmn:extensionElements>'
                     "{}</bpmn:extensionElements></bpmn:userTask>")
REFUSED = {
    "an ad-hoc subprocess": (
        [start(), sub("loose", [user("a"), user("b")], [], tag="adHocSubProcess"), end()],
        ["start>loose", "loose>end"], "loose", "ad-hoc subprocess"),
    "a complex gateway": (
        [start(), node("complexGateway", "mix"), user("a"), user("b"), end(), end("e2")],
        ["start>mix", "mix>a", "mix>b", "a>end", "b>e2"], "mix", "complex gateway"),
    "a compensation boundary event": (
        [start(), user("book", "Boka"), boundary("undo_booking", "book", "<bpmn:compensateEventDefinition />"),
         '<bpmn:userTask id="unbook" name="Avboka" isForCompensation="true" />', end()],
        ["start>book", "book>end"], "undo_booking", "compensation"),
    "camunda:inputOutput": (
        [start(), CAMUNDA_TASK_WITH.format('<camunda:inputOutput><camunda:inputParameter name="amount">'
                                           "${budget}</camunda:inputParameter></camunda:inputOutput>"), end()],
        ["start>work", "work>end"], "work", "camunda:inputOutput"),
    "a Camunda task listener": (
        [start(), CAMUNDA_TASK_WITH.format('<camunda:taskListener class="se.stad.Notify" event="create" />'), end()],
        ["start>work", "work>end"], "work", "taskListener"),
    "a Java service task": (
        [start(), '<bpmn:serviceTask id="send" name="Skicka" camunda:class="se.stad.Send" />', end()],
        ["start>send", "send>end"], "send", "camunda:class"),
    "an external service task": (
        [start(), '<bpmn:serviceTask id="send" name="Skicka" camunda:type="external" camunda:topic="mail" />', end()],
        ["start>send", "send>end"], "send", "external task"),
    "a JUEL condition": (
        [start(), node("exclusiveGateway", "big", default="f_big_end"), user("a"), end(), end("e2")],
        ["start>big", ("big", "a", "${budget > 500000}"), "big>end", "a>e2"], "f_big_a", "'budget > 500000'"),
    "a cron timer cycle": (
        [start(), node("intermediateCatchEvent", "daily", _timer("timeCycle", "0 0 9 * * ?")), user("a"), end()],
        ["start>daily", "daily>a", "a>end"], "daily", "timer"),
}


@pytest.mark.parametrize("case", list(REFUSED.values()), ids=list(REFUSED))
def test_what_cannot_run_is_refused_at_deploy_naming_the_element(ctx, case) -> None:
    elements, flows, element_id, words = case
    with pytest.raises(InvalidProcess) as refused:
        processes.deploy_process(ctx, {"m.bpmn": process("unsupported", elements, flows)}, DESIGNER)
    assert refused.value.element_id == element_id, refused.value.message
    assert words in refused.value.message
    assert processes.list_processes(ctx) == []  # nothing half-deployed

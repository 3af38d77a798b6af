"""An event subprocess inside an embedded subprocess, through the service layer: it acts on its scope only."""

from __future__ import annotations

from iphs_flow.services import cases, messages, processes
from tests.bpmn_graph import end, error, message, node, process, start, sub, user
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD

ROUNDS = 300
DEFS = '<bpmn:message id="answer" name="svar" /><bpmn:error id="E1" name="E1" errorCode="budget_exceeded" />'


def _deploy(ctx, interrupting: bool = True) -> None:
    """A pilot (embedded subprocess) with an event subprocess on the message 'svar' and one on the error E1.

    'work' with divisor 0 ends the pilot at an error end event; 'again' loops while divisor == 1.
    """
    pilot = sub("pilot", [
        start("p_start"), user("work", "Arbeta"), node("exclusiveGateway", "ok", default="pilot_f_ok_p_end"),
        end("p_end"), end("p_fail", error("E1")),
        sub("on_answer", [start("a_start", message("answer"), interrupting=interrupting), user("read", "Läs svar"),
                          end("a_end")], ["a_start>read", "read>a_end"], event=True),
        sub("on_error", [start("e_start", error("E1")), user("repair", "Laga"), end("e_end")],
            ["e_start>repair", "repair>e_end"], event=True)],
        ["p_start>work", "work>ok", ("ok", "p_fail", 'value("divisor") == 0'), "ok>p_end"])
    elements = [start(), node("exclusiveGateway", "back"), pilot,
                node("exclusiveGateway", "again", default="f_again_end"), end()]
    flows = ["start>back", "back>pilot", "pilot>again", ("again", "back", 'value("divisor") == 1'), "again>end"]
    processes.deploy_process(ctx, {"scoped.bpmn": process("scoped", elements, flows, definitions=DEFS)}, DESIGNER)


def _open(view) -> list[str]:
    assert view.status in ("running", "completed"), view.incident
    return sorted(t.task_key for t in view.open_tasks)


def _do(ctx, view, key: str, divisor: int = 1):
    task = next(t for t in view.open_tasks if t.task_key == key)
    return cases.complete_task(ctx, task.id, {"divisor": divisor}, ANNA)


def _current(ctx, number: str):
    return cases.get_case(ctx, number, ADMIN).case


def _state_size(ctx, case_id: int) -> int:
    with ctx.uow.read() as tx:
        return len(tx.cases.get(case_id).state)


def test_a_message_interrupts_the_pilot_only_and_an_error_inside_is_handled_inside(ctx) -> None:
    _deploy(ctx)
    view = cases.start_case(ctx, "scoped", {}, ANNA)
    assert _open(view) == ["work"]
    messages.deliver_message(ctx, "svar", {"case_number": view.number}, {"reply": "ja"}, LEAD)
    view = _current(ctx, view.number)
    assert _open(view) == ["read"]  # 'work' was cancelled with the rest of the pilot
    view = _do(ctx, view, "read")  # the pilot ends with its handler, and the case goes on: back into it
    assert _open(view) == ["work"]
    view = _do(ctx, view, "work", divisor=0)  # the error end event: caught by the pilot's own handler
    assert _open(view) == ["repair"]
    view = _do(ctx, view, "repair", divisor=2)
    assert view.status == "completed"


def test_a_non_interrupting_message_runs_beside_the_work(ctx) -> None:
    _deploy(ctx, interrupting=False)
    view = cases.start_case(ctx, "scoped", {}, ANNA)
    messages.deliver_message(ctx, "svar", {"case_number": view.number}, {}, LEAD)
    view = _current(ctx, view.number)
    assert _open(view) == ["read", "work"]
    view = _do(ctx, _do(ctx, view, "read"), "work", divisor=2)
    assert view.status == "completed"


def test_the_pilot_interrupted_round_after_round_keeps_the_case_state_flat(ctx) -> None:
    _deploy(ctx)
    view = cases.start_case(ctx, "scoped", {}, ANNA)
    sizes = {}
    for n in range(1, ROUNDS + 1):
        assert _open(view) == ["work"], n
        if n % 3 == 0:
            messages.deliver_message(ctx, "svar", {"case_number": view.number}, {}, LEAD)
            view = _do(ctx, _current(ctx, view.number), "read")
        elif n % 3 == 1:
            view = _do(ctx, _do(ctx, view, "work", divisor=0), "repair")
        else:
            view = _do(ctx, view, "work")
        if n in (12, ROUNDS):
            sizes[n] = _state_size(ctx, view.id)
    assert sizes[ROUNDS] <= 1.3 * sizes[12], sizes

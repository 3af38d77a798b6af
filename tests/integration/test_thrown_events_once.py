"""A message or signal one case throws reaches each receiving case once, even when its job runs twice.

The job loop delivers thrown events in a transaction of its own; a scheduler can die after
that transaction committed and before the job was marked done. The job then runs again
(its lease ran out): the receipt recorded with the first delivery must stop a second one.
Each receiver here waits for the event twice in a row, so a second delivery would show.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from iphs_flow.engine import clock
from iphs_flow.services import cases, jobs, messages, processes
from tests.bpmn_graph import end, node, process, start, user
from tests.bpmn_graph import message as message_def
from tests.bpmn_graph import signal as signal_def
from tests.conftest import ADMIN, ANNA, DESIGNER

DEFS = '<bpmn:message id="answer" name="svar" /><bpmn:signal id="stop" name="stopp" />'


def _receiver(key: str, definition: str) -> bytes:
    return process(key, [start(), node("intermediateCatchEvent", "first", definition),
                         node("intermediateCatchEvent", "second", definition), user("read", "Läs"), end()],
                   ["start>first", "first>second", "second>read", "read>end"], definitions=DEFS)


def _thrower(key: str, definition: str) -> bytes:
    send = f'<bpmn:intermediateThrowEvent id="send" name="Skicka">{definition}</bpmn:intermediateThrowEvent>'
    flows = ["start>write", "write>send", "send>end"]
    return process(key, [start(), user("write", "Skriv"), send, end()], flows, definitions=DEFS)


def _throw(ctx, key: str, data: dict) -> int:
    sender = cases.start_case(ctx, key, data, ANNA)
    cases.complete_task(ctx, sender.open_tasks[0].id, {"divisor": 1}, ANNA)
    return sender.id


def _pending_event_job(ctx, case_id: int):
    with ctx.uow.read() as tx:
        found = [SimpleNamespace(id=j.id, case_id=j.case_id, idempotency_key=j.idempotency_key, payload=j.payload,
                                 status=j.status) for j in tx.outbox.for_case(case_id) if j.kind == "bpmn_event"]
    assert len(found) == 1 and found[0].status == "pending"
    return found[0]


def _received(ctx, number: str) -> tuple[int, list[str]]:
    detail = cases.get_case(ctx, number, ADMIN)
    return (sum(1 for e in detail.history if e.kind == "message_received"),
            [t.task_key for t in detail.case.open_tasks])


def _crash_and_rerun(ctx, job) -> None:
    """The first run delivers and dies before the job is marked done; the lease runs out; it runs again."""
    assert messages.run_thrown_event(ctx, job) == "done"  # delivered; the job row is still pending
    clock.advance(timedelta(seconds=ctx.settings.job_lease_seconds + 1))
    run = jobs.process_due_jobs(ctx, "second-scheduler")
    assert run.claimed >= 1 and run.done >= 1
    with ctx.uow.read() as tx:
        statuses = {j.id: j.status for j in tx.outbox.for_case(job.case_id)}
    assert statuses[job.id] == "done"


def test_a_thrown_message_is_delivered_once_when_its_job_runs_again_after_a_crash(ctx, frozen_clock) -> None:
    processes.deploy_process(ctx, {"waits.bpmn": _receiver("waits", message_def("answer"))}, DESIGNER)
    throw = ('<bpmn:messageEventDefinition messageRef="answer"><bpmn:extensionElements>'
             '<spiffworkflow:messagePayload>{"case_number": partner}</spiffworkflow:messagePayload>'
             '</bpmn:extensionElements></bpmn:messageEventDefinition>')
    processes.deploy_process(ctx, {"sends.bpmn": _thrower("sends", throw)}, DESIGNER)
    waiting = cases.start_case(ctx, "waits", {}, ANNA)
    job = _pending_event_job(ctx, _throw(ctx, "sends", {"partner": waiting.number}))
    _crash_and_rerun(ctx, job)
    assert _received(ctx, waiting.number) == (1, [])  # at the second catch: it came once
    # a new throw is a new event: it is delivered
    _throw(ctx, "sends", {"partner": waiting.number})
    jobs.process_due_jobs(ctx, "second-scheduler")
    assert _received(ctx, waiting.number) == (2, ["read"])


def test_a_thrown_signal_reaches_each_waiting_case_once_when_its_job_runs_again(ctx, frozen_clock) -> None:
    processes.deploy_process(ctx, {"stops.bpmn": _receiver("stops", signal_def("stop"))}, DESIGNER)
    processes.deploy_process(ctx, {"signals.bpmn": _thrower("signals", signal_def("stop"))}, DESIGNER)
    receivers = [cases.start_case(ctx, "stops", {}, ANNA) for _ in range(2)]
    job = _pending_event_job(ctx, _throw(ctx, "signals", {}))
    _crash_and_rerun(ctx, job)
    for receiver in receivers:
        assert _received(ctx, receiver.number) == (1, [])

"""Messages and signals reach waiting cases from outside (API, CLI) and from other cases."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from iphs_flow.cli import cli
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import cases, messages, processes
from iphs_flow.services.errors import Conflict, Forbidden, NotFound
from tests.bpmn_graph import boundary, end, node, process, start, user
from tests.bpmn_graph import message as message_def
from tests.bpmn_graph import signal as signal_def
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD
from tests.integration.api_world import Browser, build_world

ANSWER = '<bpmn:message id="answer" name="svar" />'
APPLY = '<bpmn:message id="apply" name="ansokan" />'
STOP = '<bpmn:signal id="stop" name="stopp" />'


def _waiting_model() -> bytes:
    """start -> wait for the message 'svar' -> user task 'read' -> end."""
    return process("asks", [start(), node("intermediateCatchEvent", "wait", message_def("answer")),
                            user("read", "Läs svaret"), end()],
                   ["start>wait", "wait>read", "read>end"], definitions=ANSWER)


def _deploy(ctx) -> None:
    processes.deploy_process(ctx, {"asks.bpmn": _waiting_model()}, DESIGNER)


def test_a_message_reaches_the_one_case_it_correlates_with_and_its_payload_becomes_case_data(ctx) -> None:
    _deploy(ctx)
    first = cases.start_case(ctx, "asks", {"ref": "A-1"}, ANNA)
    second = cases.start_case(ctx, "asks", {"ref": "B-2"}, ANNA)
    outcome = messages.deliver_message(ctx, "svar", {"ref": "B-2"}, {"reply": "ja"}, LEAD)
    assert (outcome.case_number, outcome.started) == (second.number, False)
    after = cases.get_case(ctx, second.number, ADMIN)
    assert [t.task_key for t in after.case.open_tasks] == ["read"]
    assert after.data["reply"] == "ja"
    assert "message_received" in [e.kind for e in after.history]
    assert cases.get_case(ctx, first.number, ADMIN).case.open_tasks == []  # still waiting

    with pytest.raises(NotFound, match="no case waits"):  # B-2 does not wait any more
        messages.deliver_message(ctx, "svar", {"ref": "B-2"}, {}, LEAD)
    cases.start_case(ctx, "asks", {"ref": "C-3"}, ANNA)
    with pytest.raises(Conflict, match="2 cases wait"):
        messages.deliver_message(ctx, "svar", {}, {}, LEAD)
    by_number = messages.deliver_message(ctx, "svar", {"case_number": first.number}, {}, LEAD)
    assert by_number.case_number == first.number
    with pytest.raises(NotFound):
        messages.deliver_message(ctx, "okänt", {}, {}, LEAD)
    with pytest.raises(Forbidden):
        messages.deliver_message(ctx, "svar", {}, {}, ANNA)


def test_a_message_start_event_starts_a_case_with_the_payload(ctx) -> None:
    xml = process("applications", [start("received", message_def("apply")), user("assess", "Bedöm"), end()],
                  ["received>assess", "assess>end"], definitions=APPLY)
    processes.deploy_process(ctx, {"apply.bpmn": xml}, DESIGNER)
    outcome = messages.deliver_message(ctx, "ansokan", {}, {"title": "Solceller på skolan", "budget": 12},
                                       ADMIN)
    assert outcome.started
    detail = cases.get_case(ctx, outcome.case_number, ADMIN)
    assert detail.case.title == "Solceller på skolan"
    assert detail.data["budget"] == 12
    assert [t.task_key for t in detail.case.open_tasks] == ["assess"]


def test_a_signal_reaches_every_waiting_case(ctx) -> None:
    xml = process("stoppable", [start(), user("work", "Arbeta"),
                                boundary("stopped", "work", signal_def("stop")),
                                user("wrap_up", "Avsluta"), end(), end("e2")],
                  ["start>work", "work>end", "stopped>wrap_up", "wrap_up>e2"], definitions=STOP)
    processes.deploy_process(ctx, {"stop.bpmn": xml}, DESIGNER)
    views = [cases.start_case(ctx, "stoppable", {}, ANNA) for _ in range(3)]
    sent = messages.send_signal(ctx, "stopp", {"why": "budgetstopp"}, ADMIN)
    assert sent.delivered == 3
    for view in views:
        detail = cases.get_case(ctx, view.number, ADMIN)
        assert [t.task_key for t in detail.case.open_tasks] == ["wrap_up"]
    assert messages.send_signal(ctx, "stopp", {}, ADMIN).delivered == 0


def test_a_message_thrown_by_one_case_reaches_the_case_it_correlates_with(ctx) -> None:
    _deploy(ctx)
    waiting = cases.start_case(ctx, "asks", {"ref": "A-1"}, ANNA)
    sender = process("answers", [
        start(), user("write", "Skriv svar"),
        '<bpmn:intermediateThrowEvent id="send" name="Skicka svar">'
        '<bpmn:messageEventDefinition messageRef="answer"><bpmn:extensionElements>'
        '<spiffworkflow:messagePayload>{"case_number": partner, "reply": "godkänt"}</spiffworkflow:messagePayload>'
        '</bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>', end()],
        ["start>write", "write>send", "send>end"], definitions=ANSWER)
    processes.deploy_process(ctx, {"answers.bpmn": sender}, DESIGNER)
    answering = cases.start_case(ctx, "answers", {"partner": waiting.number}, ANNA)
    done = cases.complete_task(ctx, answering.open_tasks[0].id, {"divisor": 1}, ANNA)
    assert done.status == "completed"
    Scheduler(ctx, "test").run_once()  # the job loop delivers it, in a transaction of its own
    detail = cases.get_case(ctx, waiting.number, ADMIN)
    assert [t.task_key for t in detail.case.open_tasks] == ["read"]
    assert detail.data["reply"] == "godkänt"


def test_post_messages_delivers_once_per_idempotency_key_and_answers_404_and_409(sqlite_url) -> None:
    ctx, app = build_world(sqlite_url)
    try:
        _deploy(ctx)
        first = cases.start_case(ctx, "asks", {"ref": "A-1"}, ANNA)
        cases.start_case(ctx, "asks", {"ref": "B-2"}, ANNA)
        lead = Browser(app, "lena")
        body = {"name": "svar", "correlation": {"ref": "A-1"}, "payload": {"reply": "ja"}}
        sent = lead.post("/api/v1/messages", json=body, headers={"Idempotency-Key": "msg-1"})
        assert sent.status_code == 200, sent.get_data(as_text=True)
        assert sent.json == {"case_id": first.id, "case_number": first.number, "started": False,
                             "status": "running"}
        again = lead.post("/api/v1/messages", json=body, headers={"Idempotency-Key": "msg-1"})
        assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
        assert lead.post("/api/v1/messages", json=body).status_code == 404  # A-1 waits no more
        assert lead.post("/api/v1/messages", json={"name": "svar", "correlation": {"ref": "Z"}}).status_code == 404
        cases.start_case(ctx, "asks", {"ref": "C-3"}, ANNA)
        several = lead.post("/api/v1/messages", json={"name": "svar"})
        assert several.status_code == 409 and "2 cases wait" in several.json["detail"]
        bad = lead.post("/api/v1/messages", json={"name": "", "payload": []})
        assert bad.status_code == 422
        assert Browser(app, "anna").post("/api/v1/messages", json={"name": "svar"}).status_code == 403
    finally:
        ctx.close()


def test_the_cli_delivers_a_message(ctx) -> None:
    _deploy(ctx)
    view = cases.start_case(ctx, "asks", {"ref": "A-1"}, ANNA)
    runner = CliRunner()
    ran = runner.invoke(cli, ["message", "svar", "--correlate", "ref=A-1", "--payload", '{"reply": "ja"}'], obj=ctx)
    assert ran.exit_code == 0, ran.output
    assert f"Message 'svar' delivered to {view.number}" in ran.output
    missing = runner.invoke(cli, ["message", "svar", "-c", "ref=A-1"], obj=ctx)
    assert missing.exit_code == 1 and "no case waits" in missing.output

"""Nobody waits unseen: a new task is announced to its people, by mail or digest, in their language."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, assignment, cases, notifications, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import fixture_files, make_context

BASE = "https://iphs.example.se"


@pytest.fixture
def smtp_ctx(db_url, mail_server):
    context = make_context(db_url, smtp_host="127.0.0.1", smtp_port=mail_server.port, base_url=BASE)
    processes.deploy_process(context, fixture_files("gate_decision.bpmn"), Actor.system())
    yield context
    context.close()


def person(ctx, username, name, *, roles=(), groups=(), language="sv", mode="immediate") -> Actor:
    accounts.add_user(ctx, username, name, email=f"{username}@example.se", roles=set(roles), groups=set(groups),
                      language=language)
    if mode != "immediate":
        notifications.set_notify_mode(ctx, Actor.system(), username, mode)
    return accounts.actor_for(ctx, username)


def send(ctx) -> None:
    Scheduler(ctx, "test").run_once()
    Scheduler(ctx, "test").run_once()


def received(mail_server) -> list[tuple[str, str]]:
    return sorted((m.to, m.subject) for m in mail_server.messages)


def test_a_task_for_a_group_is_mailed_to_every_member_and_not_to_the_owner_who_opened_it(smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    person(smtp_ctx, "lars", "Lars Lund", roles={"innovation_lead"}, groups={"innovation-leads"}, language="en")
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Tryggare skolvägar"}, anna)
    send(smtp_ctx)
    assert mail_server.messages == []  # Anna's own first task is on her screen already

    cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"}, anna)
    send(smtp_ctx)
    assert received(mail_server) == [
        ("lars@example.se", f"New task: Bered inför grind in {view.number}"),
        ("lena@example.se", f"Ny uppgift: Bered inför grind i {view.number}"),
    ]
    [lena_mail] = [m for m in mail_server.messages if m.to == "lena@example.se"]
    [task] = task_queries.list_tasks(smtp_ctx, Actor.system(), view.number, everyone=True)
    assert "väntar på någon i gruppen innovation-leads" in lena_mail.body
    assert f"{BASE}/tasks/{task.id}" in lena_mail.body
    assert lena_mail.language == "sv"
    assert notifications.list_notifications(smtp_ctx, anna) == []
    [in_app] = notifications.list_notifications(smtp_ctx, accounts.actor_for(smtp_ctx, "lena"))
    assert in_app.subject == f"Ny uppgift: Bered inför grind i {view.number}"

    send(smtp_ctx)
    assert len(mail_server.messages) == 2  # once each, never twice


def test_the_member_who_opened_the_next_group_task_is_not_told_about_it_but_the_others_are(smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    lena = person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    person(smtp_ctx, "bo", "Bo Berg", roles={"approver"}, groups={"gate-deciders", "innovation-leads"})
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    send(smtp_ctx)
    mail_server.messages.clear()
    cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Beredd"}, lena)
    send(smtp_ctx)
    assert received(mail_server) == [("bo@example.se", f"Ny uppgift: Grindbeslut G1 i {view.number}")]


def test_a_person_on_a_daily_digest_gets_the_new_task_in_the_digest_not_at_once(smtp_ctx, mail_server, frozen_clock):
    clock.freeze(datetime(2026, 3, 16, 10, 0, tzinfo=timezone.utc))  # Monday 11:00 in Stockholm
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"}, mode="daily")
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    send(smtp_ctx)
    assert mail_server.messages == []
    assert len(notifications.list_notifications(smtp_ctx, accounts.actor_for(smtp_ctx, "lena"))) == 1

    clock.freeze(datetime(2026, 3, 17, 6, 0, 1, tzinfo=timezone.utc))  # Tuesday 07:00:01 in Stockholm
    send(smtp_ctx)
    [digest] = mail_server.messages
    assert digest.to == "lena@example.se"
    assert f"Ny uppgift: Bered inför grind i {view.number}" in digest.body


def test_a_task_assigned_or_delegated_to_someone_is_mailed_to_them(smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    lena = person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    bo = person(smtp_ctx, "bo", "Bo Berg", roles={"approver"}, groups={"gate-deciders"})
    person(smtp_ctx, "britt", "Britt Beslut", roles={"approver"}, groups={"gate-deciders"}, language="en")
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Beredd"}, lena)
    send(smtp_ctx)
    mail_server.messages.clear()

    gate = view.open_tasks[0]
    assignment.assign_task(smtp_ctx, gate.id, "bo", lena)
    send(smtp_ctx)
    [to_bo] = mail_server.messages
    assert (to_bo.to, to_bo.subject) == ("bo@example.se", f"Uppgift till dig: Grindbeslut G1 i {view.number}")
    assert "Lena Lind har gett dig uppgiften" in to_bo.body

    assignment.delegate_task(smtp_ctx, gate.id, "britt", bo)
    send(smtp_ctx)
    assert (mail_server.messages[-1].to, mail_server.messages[-1].subject) == (
        "britt@example.se", f"A task for you: Grindbeslut G1 in {view.number}")
    assert len(mail_server.messages) == 2


def test_a_task_done_before_its_notice_went_out_is_not_announced(smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    lena = person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Beredd"}, lena)  # before the scheduler ran
    send(smtp_ctx)
    assert received(mail_server) == []  # nobody is in gate-deciders or left in innovation-leads to tell


def test_a_task_for_an_empty_group_goes_to_the_innovation_leads_with_a_notice_and_a_history_entry(
        smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    lena = person(smtp_ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    person(smtp_ctx, "lars", "Lars Lund", roles={"innovation_lead"}, groups={"innovation-leads"})
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Beredd"}, lena)  # nobody in gate-deciders

    [gate] = view.open_tasks
    assert gate.candidate_group == "innovation-leads" and gate.assignee is None
    page = cases.get_case(smtp_ctx, view.number, Actor.system())
    [moved] = [e for e in page.history if e.kind == "task_rerouted"]
    assert moved.data["from_group"] == "gate-deciders" and moved.data["to_group"] == "innovation-leads"
    mail_server.messages.clear()
    send(smtp_ctx)
    [notice] = mail_server.messages  # Lars; Lena opened it herself
    assert notice.to == "lars@example.se"
    assert notice.subject == f"Uppgift utan mottagare: Grindbeslut G1 i {view.number}"
    assert "Gruppen gate-deciders har inga aktiva medlemmar" in notice.body
    assignment.assign_task(smtp_ctx, gate.id, "lars", lena)  # a lead can then pass it on


def test_a_task_nobody_at_all_could_take_is_marked_unstaffed_in_the_history(smtp_ctx, mail_server):
    anna = person(smtp_ctx, "anna", "Anna Andersson")
    view = cases.start_case(smtp_ctx, "gate_decision", {"title": "Skolvägar"}, anna)
    view = cases.complete_task(smtp_ctx, view.open_tasks[0].id, {"text": "Behov"}, anna)
    [task] = view.open_tasks
    assert task.candidate_group == "innovation-leads"
    kinds = [(e.kind, e.data.get("group")) for e in cases.get_case(smtp_ctx, view.number, Actor.system()).history]
    assert ("task_unstaffed", "innovation-leads") in kinds
    send(smtp_ctx)
    assert mail_server.messages == []

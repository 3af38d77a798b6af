"""The shipped innovation process (bpmn/innovation.bpmn, forms/), driven like real cases.

Each test asserts the stage, the open tasks, who they belong to, their due dates and the
case history. The clock is frozen and moved; working days skip Swedish holidays.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import cases
from iphs_flow.services.errors import InvalidInput
from tests.integration.process_driver import (
    ASSIGN,
    CONCEPT,
    EVALUATION,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    G4_REALISED,
    IMPLEMENTATION,
    NEED,
    OWNER,
    PILOT,
    UNDERSTAND,
    Walk,
    local,
    shipped_context,
)

# Tuesday 31 March 2026, 09:00 in Stockholm (summer time began on the 29th).
MONDAY_BEFORE_EASTER = datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def ctx(sqlite_url):
    context = shipped_context(sqlite_url)
    clock.freeze(MONDAY_BEFORE_EASTER)
    yield context
    context.close()


def to_g2(ctx) -> Walk:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    return walk


def to_g3(ctx) -> Walk:
    walk = to_g2(ctx)
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", PILOT)
    walk.tick_at(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))  # the pilot's end date
    walk.complete("evaluation", EVALUATION)
    return walk


def test_a_need_goes_straight_through_to_scaled_and_closed(ctx) -> None:
    walk = Walk.start(ctx)
    need = walk.task("need")
    assert (need.assignee, need.stage, need.due_at) == ("anna", 0, None)
    assert walk.case().case.title == "Innovationsprocess"

    walk.complete("need", NEED)
    assert walk.case().case.title == "Tryggare skolvägar"
    assert [m["template"] for m in walk.mails()] == ["receipt"]
    assert walk.mails()[0]["to"] == "owner"
    lead_task = walk.task("assign_lead")
    assert (lead_task.candidate_group, lead_task.stage) == ("innovation-leads", 0)
    assert local(lead_task.due_at) == "2026-04-02 09:00"  # 2 working days

    walk.complete("assign_lead", ASSIGN)
    g1 = walk.task("G1_decide")
    assert (g1.candidate_group, g1.stage) == ("innovation-leads", 0)
    assert local(g1.due_at) == "2026-04-16 09:00"  # 10 working days; Good Friday and Easter Monday skipped

    view = walk.complete("G1_decide", G1_APPROVE)
    assert view.stage == 1 and walk.open_keys() == ["understand"]
    assert walk.task("understand").assignee == "anna"
    assert walk.mails()[-1]["template"] == "decision" and walk.mails()[-1]["params"]["decision"] == "approved"

    assert walk.complete("understand", UNDERSTAND).stage == 2
    walk.complete("concept", CONCEPT)
    g2 = walk.task("G2_decide")
    assert (g2.candidate_group, g2.stage) == ("unit-managers", 2)  # 300 000 SEK within one unit (DMN)
    assert local(g2.due_at) == "2026-04-23 09:00"  # 15 working days

    view = walk.complete("G2_decide", G2_APPROVE)
    assert view.stage == 3 and walk.open_keys() == ["pilot"]
    walk.complete("pilot", PILOT)
    assert walk.open_keys() == []  # the case waits for the pilot to end
    assert local(walk.case().case.next_timer_at) == "2026-08-31 00:00"  # 30 days before the end

    walk.advance_to_next_timer()
    assert walk.mails()[-1]["template"] == "pilot_ending" and walk.mails()[-1]["params"]["days_left"] == 30
    walk.advance_to_next_timer()
    assert walk.mails()[-1]["params"]["days_left"] == 7
    assert walk.open_keys() == []
    walk.advance_to_next_timer()  # the end date: the evaluation appears
    evaluation = walk.task("evaluation")
    assert (evaluation.candidate_group, evaluation.stage) == ("innovation-leads", 4)
    assert local(evaluation.due_at) == "2026-10-07 00:01"  # 5 working days

    walk.complete("evaluation", EVALUATION)
    g3 = walk.task("G3_decide")
    assert (g3.candidate_group, g3.stage) == ("department-management", 4)  # 2 MSEK, department scope
    walk.complete("G3_decide", G3_APPROVE)
    assert walk.open_keys() == ["implementation"] and walk.case().case.stage == 5

    walk.complete("implementation", IMPLEMENTATION)
    assert walk.open_keys() == []  # follow-up after six months
    due = walk.advance_to_next_timer()
    assert local(due).startswith("2027-03-3")
    walk.complete("G4_followup", G4_REALISED)
    assert walk.open_keys() == ["closure"] and walk.case().case.stage == 6
    view = walk.complete("closure", {})
    assert view.status == "completed" and view.open_tasks == []

    history = walk.history()
    for expected in [("case_started", None), ("task_completed", "need"), ("task_completed", "G1_decide"),
                     ("task_completed", "G2_decide"), ("timer_fired", "pilot_end_wait"),
                     ("task_completed", "G3_decide"), ("task_completed", "G4_followup"), ("case_closed", None)]:
        assert expected in history, expected


@pytest.mark.parametrize("gate", ["G1", "G2", "G3"])
def test_rejecting_at_a_gate_closes_the_case_and_the_reason_reaches_the_owner(ctx, gate) -> None:
    walk = {"G1": Walk.to_g1, "G2": to_g2, "G3": to_g3}[gate](ctx)
    view = walk.complete(f"{gate}_decide", {"decision": "rejected", "reason": "Ligger utanför stadens uppdrag"})
    assert view.status == "completed" and walk.open_keys() == []
    decision = walk.mails()[-1]
    assert (decision["template"], decision["to"]) == ("decision", "owner")
    assert decision["params"] == {"gate": gate, "decision": "rejected", "reason": "Ligger utanför stadens uppdrag"}
    owner_view = cases.get_case(ctx, walk.number, OWNER)  # the owner reads it in the history
    completed = [e for e in owner_view.history if e.kind == "task_completed" and e.task_key == f"{gate}_decide"]
    assert completed[-1].data["data"]["reason"] == "Ligger utanför stadens uppdrag"


def test_rejecting_a_gate_requires_a_reason(ctx) -> None:
    walk = Walk.to_g1(ctx)
    with pytest.raises(InvalidInput) as info:
        walk.complete("G1_decide", {"decision": "rejected"})
    assert "reason" in info.value.fields
    assert walk.open_keys() == ["G1_decide"]


def test_approving_requires_every_must_criterion(ctx) -> None:
    walk = Walk.to_g1(ctx)
    with pytest.raises(InvalidInput) as info:
        walk.complete("G1_decide", dict(G1_APPROVE, not_duplicate=False))
    assert "not_duplicate" in info.value.fields


def test_a_held_case_wakes_up_on_its_resume_date(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "on_hold", "reason": "Budgetåret är slut", "resume_date": "2026-08-17"})
    assert walk.open_keys() == []
    assert local(walk.case().case.next_timer_at) == "2026-08-17 00:00"
    walk.tick_at(datetime(2026, 8, 16, 21, 0, tzinfo=timezone.utc))  # 23:00 the day before: still asleep
    assert walk.open_keys() == []
    walk.tick_at(datetime(2026, 8, 16, 22, 1, tzinfo=timezone.utc))  # 00:01 on the resume date
    g1 = walk.task("G1_decide")
    assert g1.candidate_group == "innovation-leads"
    resume = walk.mails()[-1]
    assert (resume["template"], resume["to"]) == ("resume", "group:innovation-leads")
    assert ("timer_fired", "G1_hold_wait") in walk.history()
    walk.complete("G1_decide", G1_APPROVE)
    assert walk.open_keys() == ["understand"]


def test_recycling_goes_back_to_an_earlier_stage_and_forward_again(ctx) -> None:
    walk = to_g2(ctx)
    view = walk.complete("G2_decide", {"decision": "recycle", "reason": "Fler användare behöver intervjuas",
                                       "recycle_to_stage": 1})
    assert view.stage == 1 and walk.open_keys() == ["understand"]
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    assert walk.open_keys() == ["G2_decide"]
    walk.complete("G2_decide", G2_APPROVE)
    assert walk.open_keys() == ["pilot"] and walk.case().case.stage == 3


def test_more_information_requested_and_answered(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många skolor berörs?",
                                "reply_deadline": "2026-04-14"})
    supplement = walk.task("G1_supplement")
    assert supplement.assignee == "anna" and local(supplement.due_at) == "2026-04-14 00:00"
    walk.complete("G1_supplement", {"supplement_reply": "Fyra skolor i Skärholmen"})
    g1 = walk.task("G1_decide")
    assert g1.candidate_group == "innovation-leads"
    walk.complete("G1_decide", G1_APPROVE)
    assert walk.open_keys() == ["understand"]


def test_unanswered_requests_are_reminded_and_put_on_hold_after_30_days(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Budget?", "reply_deadline": "2026-04-14"})
    asked = clock.now()
    walk.tick_at(asked + timedelta(days=7, minutes=1))
    walk.tick_at(asked + timedelta(days=12, minutes=1))
    reminders = [m for m in walk.mails() if m["template"] == "reminder"]
    assert [(m["to"], m["params"]["day"], m["queued_at"][:10]) for m in reminders] == [
        ("owner", 7, "2026-04-07"), ("owner", 12, "2026-04-12")]
    assert walk.open_keys() == ["G1_supplement"]
    walk.tick_at(asked + timedelta(days=30, minutes=1))
    assert walk.open_keys() == []  # on hold
    decision = walk.mails()[-1]
    assert decision["params"]["decision"] == "on_hold"
    assert ("task_cancelled", "G1_supplement") in walk.history()
    assert walk.case().case.next_timer_at is not None  # it wakes up again on the resume date


def test_gate_deciders_are_reminded_on_working_days_5_and_8_and_escalated_on_day_10(ctx) -> None:
    walk = Walk.to_g1(ctx)  # G1 opened Tuesday 31 March 09:00; Easter falls in the period
    fired = []
    for _ in range(3):
        fired.append(local(walk.advance_to_next_timer()))
    assert fired == ["2026-04-09 09:00", "2026-04-14 09:00", "2026-04-16 09:00"]
    notes = [(m["template"], m["to"], m["params"].get("working_day")) for m in walk.mails()[-3:]]
    assert notes == [("reminder", "assignee", 5), ("reminder", "assignee", 8), ("escalation", "manager", 10)]
    assert walk.open_keys() == ["G1_decide"]  # escalation tells the manager; the task stays open


def test_approval_with_conditions_opens_a_task_per_condition(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", dict(G1_APPROVE, decision="approved_with_conditions", conditions=[
        {"text": "Förankra med rektorerna", "due_date": "2026-04-30"},
        {"text": "Kontakta trafikkontoret", "due_date": "2026-05-15"}]))
    open_tasks = walk.open()
    conditions = sorted((local(t.due_at), t.assignee) for t in open_tasks if t.task_key == "fulfil_conditions")
    assert conditions == [("2026-04-30 00:00", "anna"), ("2026-05-15 00:00", "anna")]
    assert "understand" in walk.open_keys()  # the case goes on meanwhile


def test_the_pilot_decider_depends_on_budget_and_scope(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", dict(CONCEPT, pilot_budget=8_000_000, pilot_scope="department"))
    assert walk.task("G2_decide").candidate_group == "city-executive-office"


def test_referring_elsewhere_closes_the_case_with_the_reference(ctx) -> None:
    walk = Walk.to_g1(ctx)
    view = walk.complete("G1_decide", {"decision": "referred", "reason": "Gäller trafiknämndens ansvar",
                                       "refer_to": "Trafikkontoret, dnr T2026/114"})
    assert view.status == "completed"
    completed = [e for e in walk.case().history if e.kind == "task_completed" and e.task_key == "G1_decide"]
    assert completed[-1].data["data"]["refer_to"] == "Trafikkontoret, dnr T2026/114"
    assert walk.mails()[-1]["params"]["decision"] == "referred"


def test_evaluators_have_five_working_days_and_a_reminder_on_day_3(ctx) -> None:
    walk = to_g2(ctx)
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", dict(PILOT, start_date="2026-04-01", end_date="2026-04-30"))
    walk.tick_at(datetime(2026, 4, 29, 22, 1, tzinfo=timezone.utc))  # 00:01 on 30 April
    evaluation = walk.task("evaluation")
    assert local(evaluation.due_at) == "2026-05-08 00:01"  # 1 May is a holiday
    due = walk.advance_to_next_timer()
    assert local(due) == "2026-05-06 00:01"
    assert (walk.mails()[-1]["template"], walk.mails()[-1]["params"]["working_day"]) == ("reminder", 3)

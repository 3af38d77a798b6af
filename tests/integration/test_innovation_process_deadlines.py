"""Deadlines of the shipped innovation process that run over weeks and months.

PROCESS.md, "Deadlines, reminders, escalation": an idea owner's stage task that lies
untouched is reminded at 30 and 60 days and put before the innovation lead at 90; a
gate's clock stands still while the idea owner supplements (komplettering), who has 14
days to reply unless the decider says otherwise. The clock is frozen and moved.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.engine.calendar import add_working_days, to_datetime
from iphs_flow.services.errors import InvalidInput
from tests.integration.process_driver import (
    CONCEPT,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    UNDERSTAND,
    Walk,
    local,
    shipped_context,
)
from tests.integration.test_innovation_process import MONDAY_BEFORE_EASTER, to_g2, to_g3

MINUTE = timedelta(minutes=1)


@pytest.fixture
def ctx(sqlite_url):
    context = shipped_context(sqlite_url)
    clock.freeze(MONDAY_BEFORE_EASTER)
    yield context
    context.close()


def at_stage(ctx, key: str) -> Walk:
    """A case whose idea owner has just been given the stage task `key`."""
    if key in ("understand", "concept"):
        walk = Walk.to_g1(ctx)
        walk.complete("G1_decide", G1_APPROVE)
        if key == "concept":
            walk.complete("understand", UNDERSTAND)
    elif key == "pilot":
        walk = to_g2(ctx)
        walk.complete("G2_decide", G2_APPROVE)
    else:
        walk = to_g3(ctx)
        walk.complete("G3_decide", G3_APPROVE)
    assert walk.open_keys() == [key]
    return walk


STAGES = {"understand": 1, "concept": 2, "pilot": 3, "implementation": 5}


def days_later(moment: datetime, days: int) -> datetime:
    """Calendar days as the model counts them: whole days of UTC time, whatever DST does."""
    return moment.astimezone(timezone.utc) + timedelta(days=days)


# How long the idea owner has for each stage task (the model's dueDate).
STAGE_DUE = {"understand": lambda t: days_later(t, 56), "concept": lambda t: days_later(t, 56),
             "pilot": lambda t: add_working_days(t, 10), "implementation": lambda t: days_later(t, 30)}


def templates(walk: Walk) -> list[str]:
    return [m["template"] for m in walk.mails()]


# ---------------------------------------------------------------- inactivity


@pytest.mark.parametrize("key", list(STAGES))
def test_an_untouched_stage_task_reminds_its_owner_after_30_and_60_days(ctx, key) -> None:
    walk = at_stage(ctx, key)
    opened = clock.now()
    assert walk.case().case.next_timer_at == opened + timedelta(days=30)

    walk.tick_at(opened + timedelta(days=30) - MINUTE)
    assert "inactivity" not in templates(walk)
    walk.tick_at(opened + timedelta(days=30) + MINUTE)
    walk.tick_at(opened + timedelta(days=60) + MINUTE)
    reminders = [m for m in walk.mails() if m["template"] == "inactivity"]
    assert [(m["to"], m["about_task"], m["params"]) for m in reminders] == [
        ("owner", key, {"days": 30}), ("owner", key, {"days": 60})]
    assert walk.open_keys() == [key]  # reminders leave the task with its owner
    assert walk.task(key).assignee == "anna"
    history = walk.history()
    assert ("timer_fired", f"{key}_inactive_30") in history and ("timer_fired", f"{key}_inactive_60") in history


@pytest.mark.parametrize("key", list(STAGES))
def test_after_90_idle_days_the_innovation_lead_decides_and_keep_going_reopens_the_task(ctx, key) -> None:
    walk = at_stage(ctx, key)
    opened = clock.now()
    for days in (30, 60, 90):
        walk.tick_at(opened + timedelta(days=days) + MINUTE)

    check = walk.task(f"{key}_inactivity_check")
    assert walk.open_keys() == [f"{key}_inactivity_check"]  # the owner's task is taken back
    assert (check.candidate_group, check.assignee, check.stage) == ("innovation-leads", None, STAGES[key])
    assert check.due_at == add_working_days(clock.now(), 10)
    assert walk.case().case.stage == STAGES[key]
    history = walk.history()
    assert ("timer_fired", f"{key}_inactive_90") in history and ("task_cancelled", key) in history

    mails_before = len(walk.mails())
    walk.complete(f"{key}_inactivity_check", {"decision": "keep_going"})
    reopened = walk.task(key)
    assert reopened.assignee == "anna" and reopened.due_at == STAGE_DUE[key](clock.now())  # a fresh due date
    assert len(walk.mails()) == mails_before  # nothing else happens
    assert walk.case().case.next_timer_at == clock.now() + timedelta(days=30)  # the idle clock starts again


@pytest.mark.parametrize("key", list(STAGES))
def test_an_idle_case_put_on_hold_sleeps_until_its_resume_date_and_then_goes_back_to_its_owner(ctx, key) -> None:
    walk = at_stage(ctx, key)
    walk.tick_at(clock.now() + timedelta(days=90) + MINUTE)
    resume_on = (clock.now() + timedelta(days=60)).date().isoformat()
    walk.complete(f"{key}_inactivity_check", {"decision": "put_on_hold", "resume_date": resume_on,
                                              "reason": "Idéägaren är föräldraledig"})
    assert walk.open_keys() == []
    hold = walk.mails()[-1]
    assert (hold["template"], hold["to"], hold["about_task"]) == ("decision", "owner", key)
    assert hold["params"] == {"decision": "on_hold", "reason": "Idéägaren är föräldraledig", "resume_date": resume_on}
    assert local(walk.case().case.next_timer_at) == f"{resume_on} 00:00"
    assert walk.case().case.stage == STAGES[key]

    wake = to_datetime(resume_on)
    walk.tick_at(wake - MINUTE)
    assert walk.open_keys() == []
    walk.tick_at(wake + MINUTE)
    task = walk.task(key)
    assert task.assignee == "anna" and task.due_at == STAGE_DUE[key](wake + MINUTE)
    resume = walk.mails()[-1]
    assert (resume["template"], resume["to"], resume["about_task"]) == ("resume", "owner", key)
    assert ("timer_fired", f"{key}_hold_wait") in walk.history()


def test_putting_an_idle_case_on_hold_needs_a_resume_date_and_a_reason(ctx) -> None:
    walk = at_stage(ctx, "understand")
    walk.tick_at(clock.now() + timedelta(days=90) + MINUTE)
    with pytest.raises(InvalidInput) as info:
        walk.complete("understand_inactivity_check", {"decision": "put_on_hold"})
    assert {"resume_date", "reason"} <= set(info.value.fields)
    assert walk.open_keys() == ["understand_inactivity_check"]


def test_finishing_the_stage_task_in_time_stops_the_idle_clock(ctx) -> None:
    walk = at_stage(ctx, "understand")
    walk.tick_at(clock.now() + timedelta(days=45))
    walk.complete("understand", UNDERSTAND)
    concept_opened = clock.now()
    assert walk.case().case.next_timer_at == concept_opened + timedelta(days=30)  # concept's own clock
    walk.tick_at(concept_opened + timedelta(days=29))
    assert [m["params"]["days"] for m in walk.mails() if m["template"] == "inactivity"] == [30]
    walk.complete("concept", CONCEPT)
    assert walk.open_keys() == ["G2_decide"]


# ---------------------------------------------------------------- the gate's clock pauses


def test_the_g1_clock_stands_still_while_the_owner_supplements(ctx) -> None:
    walk = Walk.to_g1(ctx)  # G1 opens Tuesday 31 March 09:00 with 10 working days
    assert local(walk.task("G1_decide").due_at) == "2026-04-16 09:00"
    walk.tick_at(datetime(2026, 4, 2, 8, 0, tzinfo=timezone.utc))  # Thursday 10:00: two working days used
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många skolor berörs?"})
    supplement = walk.task("G1_supplement")
    assert supplement.assignee == "anna" and local(supplement.due_at) == "2026-04-16 10:00"  # 14 days by default

    walk.tick_at(datetime(2026, 4, 13, 12, 0, tzinfo=timezone.utc))  # Monday 13 April 14:00
    walk.complete("G1_supplement", {"supplement_reply": "Fyra skolor i Skärholmen"})
    g1 = walk.task("G1_decide")
    assert g1.candidate_group == "innovation-leads"
    assert local(g1.due_at) == "2026-04-23 14:00"  # the 8 working days that were left

    fired = [local(walk.advance_to_next_timer()) for _ in range(3)]
    assert fired == ["2026-04-16 14:00", "2026-04-21 14:00", "2026-04-23 14:00"]  # gate days 5, 8 and 10
    notes = [(m["template"], m["to"], m["params"].get("working_day")) for m in walk.mails()[-3:]]
    assert notes == [("reminder", "assignee", 5), ("reminder", "assignee", 8), ("escalation", "manager", 10)]
    walk.complete("G1_decide", G1_APPROVE)
    assert walk.open_keys() == ["understand"]


GATES = {"G1": (Walk.to_g1, 10, (5, 8)), "G2": (to_g2, 15, (5, 10)), "G3": (to_g3, 15, (5, 10))}


@pytest.mark.parametrize("gate", list(GATES))
def test_only_the_working_days_left_carry_over_after_komplettering(ctx, gate) -> None:
    reach, deadline, reminders = GATES[gate]
    walk = reach(ctx)
    opened = clock.now()
    assert walk.task(f"{gate}_decide").due_at == add_working_days(opened, deadline)
    asked = add_working_days(opened, 3)
    walk.tick_at(asked)
    walk.complete(f"{gate}_decide", {"decision": "more_info", "info_request": "Underlag för budgeten?"})
    answered = asked + timedelta(days=9)
    walk.tick_at(answered)  # the owner is reminded on day 7 of the request; the gate's timers are asleep
    assert [m["params"] for m in walk.mails() if m["template"] == "reminder"][-1] == {"day": 7}
    walk.complete(f"{gate}_supplement", {"supplement_reply": "Se bifogad kalkyl"})

    assert walk.task(f"{gate}_decide").due_at == add_working_days(answered, deadline - 3)
    fired = [walk.advance_to_next_timer() for _ in range(3)]
    assert fired == [add_working_days(answered, day - 3) for day in (*reminders, deadline)]
    assert [m["params"]["working_day"] for m in walk.mails()[-3:]] == [*reminders, deadline]


def test_a_reminder_sent_before_the_pause_is_not_sent_again(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.advance_to_next_timer()  # working day 5: Thursday 9 April 09:00
    walk.tick_at(datetime(2026, 4, 10, 8, 0, tzinfo=timezone.utc))  # Friday 10:00, working day 6
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Vem är behovsägare?"})
    walk.tick_at(datetime(2026, 4, 13, 8, 0, tzinfo=timezone.utc))  # Monday 13 April 10:00
    walk.complete("G1_supplement", {"supplement_reply": "Skolchefen"})
    assert local(walk.task("G1_decide").due_at) == "2026-04-17 10:00"  # 4 working days left

    walk.tick_at(datetime(2026, 5, 13, 8, 0, tzinfo=timezone.utc))  # a month later, still undecided
    gate_notes = [(m["template"], m["params"]["working_day"], m["queued_at"]) for m in walk.mails()
                  if m["about_task"] == "G1_decide" and m["template"] in ("reminder", "escalation")]
    assert gate_notes == [("reminder", 5, "2026-04-09 09:01"), ("reminder", 8, "2026-05-13 10:00"),
                          ("escalation", 10, "2026-05-13 10:00")]
    assert walk.open_keys() == ["G1_decide"]


def test_the_day_8_reminder_and_escalation_follow_the_paused_clock(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.advance_to_next_timer()  # working day 5
    walk.tick_at(datetime(2026, 4, 10, 8, 0, tzinfo=timezone.utc))  # working day 6
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Vem är behovsägare?"})
    walk.tick_at(datetime(2026, 4, 13, 8, 0, tzinfo=timezone.utc))
    walk.complete("G1_supplement", {"supplement_reply": "Skolchefen"})
    fired = [local(walk.advance_to_next_timer()) for _ in range(2)]
    assert fired == ["2026-04-15 10:00", "2026-04-17 10:00"]  # gate days 8 and 10
    assert [(m["template"], m["params"]["working_day"]) for m in walk.mails()[-2:]] == [
        ("reminder", 8), ("escalation", 10)]


def test_a_decision_ends_the_pause_and_a_woken_case_gets_the_full_time_again(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.tick_at(datetime(2026, 4, 2, 8, 0, tzinfo=timezone.utc))  # two working days used
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Budget?"})
    asked = clock.now()
    walk.tick_at(asked + timedelta(days=30) + MINUTE)  # no reply: the case is put on hold for 90 days
    hold = walk.mails()[-1]
    assert (hold["template"], hold["params"]["decision"]) == ("decision", "on_hold")
    assert local(walk.case().case.next_timer_at) == "2026-07-31 00:00"  # 2 May + 90 days, Stockholm time

    woken = walk.advance_to_next_timer()
    g1 = walk.task("G1_decide")
    assert g1.due_at == add_working_days(woken + MINUTE, 10)  # not the 8 days left before the hold


# ---------------------------------------------------------------- the reply deadline


def test_a_request_without_a_reply_deadline_gives_the_owner_14_days(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många skolor berörs?"})
    supplement = walk.task("G1_supplement")
    assert local(supplement.due_at) == "2026-04-14 09:00"
    walk.tick_at(clock.now() + timedelta(days=7, minutes=1))
    walk.tick_at(clock.now() + timedelta(days=5))
    reminders = [m for m in walk.mails() if m["template"] == "reminder"]
    assert [(m["to"], m["params"]["day"]) for m in reminders] == [("owner", 7), ("owner", 12)]


def test_an_explicit_reply_deadline_still_wins_and_an_earlier_one_is_not_reused(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Fråga 1", "reply_deadline": "2026-04-08"})
    assert local(walk.task("G1_supplement").due_at) == "2026-04-08 00:00"
    walk.complete("G1_supplement", {"supplement_reply": "Svar 1"})
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Fråga 2"})
    assert local(walk.task("G1_supplement").due_at) == "2026-04-14 09:00"  # the default, not 8 April


@pytest.mark.parametrize("gate", ["G1", "G2", "G3"])
def test_the_gate_forms_accept_a_request_without_a_reply_deadline_but_not_without_a_question(ctx, gate) -> None:
    walk = GATES[gate][0](ctx)
    with pytest.raises(InvalidInput) as info:
        walk.complete(f"{gate}_decide", {"decision": "more_info"})
    assert set(info.value.fields) == {"info_request"}
    walk.complete(f"{gate}_decide", {"decision": "more_info", "info_request": "Tidplan?"})
    assert walk.open_keys() == [f"{gate}_supplement"]

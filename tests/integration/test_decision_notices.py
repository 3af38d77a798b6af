"""The condition is on its task and in its mail, the question is in the more-information mail, and
reminders due at once collapse into the nearest one (issue 16.4)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import jobs, notifications
from iphs_flow.services.queries.case_page import task_page
from tests.integration.process_driver import (
    CONCEPT,
    G1_APPROVE,
    G2_APPROVE,
    OWNER,
    UNDERSTAND,
    Walk,
    shipped_context,
)


@pytest.fixture
def shipped(db_url):
    context = shipped_context(db_url)
    with context.uow.write() as tx:  # the driver made anna's account; she needs an address for her mail
        person = tx.users.by_username("anna")
        person.display_name, person.email, person.language = "Anna Andersson", "anna@example.se", "sv"
        tx.commit()
    clock.freeze(datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc))
    yield context
    context.close()


def delivered(ctx) -> list:
    jobs.process_due_jobs(ctx, "test")
    return notifications.list_notifications(ctx, OWNER)


def test_each_condition_task_shows_its_own_condition_and_the_mail_lists_them(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", dict(G1_APPROVE, decision="approved_with_conditions", conditions=[
        {"text": "Förankra med rektorerna", "due_date": "2026-04-30"},
        {"text": "Kontakta trafikkontoret", "due_date": "2026-05-15"}]))
    shown = sorted((task_page(shipped, t.id, OWNER).case_data.get("condition") or {}).get("text", "–")
                   for t in walk.open() if t.task_key == "fulfil_conditions")
    assert shown == ["Förankra med rektorerna", "Kontakta trafikkontoret"]
    [mail] = [n for n in delivered(shipped) if n.template == "decision"]
    assert "Förankra med rektorerna (senast 2026-04-30)" in mail.body
    assert "Kontakta trafikkontoret (senast 2026-05-15)" in mail.body


def test_the_more_information_mail_carries_the_question_and_the_reply_date(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många skolor berörs?",
                                "reply_deadline": "2026-04-14"})
    [mail] = [n for n in delivered(shipped) if n.template == "decision"]
    assert "Hur många skolor berörs?" in mail.body and "Svara senast 2026-04-14." in mail.body
    supplement = walk.task("G1_supplement")
    assert task_page(shipped, supplement.id, OWNER).case_data["info_request"] == "Hur många skolor berörs?"


def test_a_pilot_ending_today_sends_only_the_nearest_reminder(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", {"start_date": "2026-03-01", "end_date": "2026-03-31",
                            "indicators": [{"indicator": "Andel trygga elever", "target": 70}]})
    walk.tick_at(clock.now())
    pilot_notes = [m["params"]["days_left"] for m in walk.mails() if m["template"] == "pilot_ending"]
    assert pilot_notes == [7]
    assert "evaluation" in walk.open_keys()

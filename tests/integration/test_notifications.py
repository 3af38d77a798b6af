"""Reminders become in-app notifications and mails: once, to the right people, in their language."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, cases, jobs, notifications, processes
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ADMIN, ANNA, DESIGNER, fixture_files, make_context

BASE = "https://iphs.example.se"
LENA = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
ERIK = Actor("erik", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))


def local(moment: datetime) -> str:
    return moment.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def people(ctx, *, lena_mode: str = "immediate") -> None:
    accounts.add_user(ctx, "lena", "Lena Lind", email="lena@example.se", groups={"innovation-leads"},
                      roles={"innovation_lead"}, language="sv", manager="mona")
    accounts.add_user(ctx, "erik", "Erik Ek", email="erik@example.se", groups={"innovation-leads"},
                      roles={"innovation_lead"}, language="en")
    accounts.add_user(ctx, "mona", "Mona Berg", email="mona@example.se", language="sv")
    if lena_mode != "immediate":
        notifications.set_notify_mode(ctx, LENA, "lena", lena_mode)


def start_decision(ctx, frozen_clock) -> cases.CaseView:
    """timers.bpmn: the decision opens at the start of Monday 16 March; reminder on working day 5."""
    processes.deploy_process(ctx, fixture_files("timers.bpmn"), DESIGNER)
    view = cases.start_case(ctx, "timers", {"start_date": "2026-03-16"}, ANNA, title="Cykelparkering")
    clock.freeze(view.next_timer_at + timedelta(seconds=1))
    Scheduler(ctx, "test").run_once()
    return view


def reach_reminder(ctx, view) -> datetime:
    due = cases.get_case(ctx, view.number, ADMIN).case.next_timer_at
    clock.freeze(due + timedelta(seconds=1))
    return due


@pytest.fixture
def smtp_ctx(db_url, mail_server):
    context = make_context(db_url, smtp_host="127.0.0.1", smtp_port=mail_server.port, base_url=BASE,
                           mail_retry_seconds=60.0, mail_max_attempts=3)
    yield context
    context.close()


def test_a_reminder_reaches_every_group_member_in_app_and_as_a_held_mail_without_smtp(ctx, frozen_clock) -> None:
    view = start_decision(ctx, frozen_clock)
    people(ctx)  # they join after the task opened: only the reminder is theirs to receive
    due = reach_reminder(ctx, view)
    assert local(due) == "2026-03-23 00:00"  # working day 5 after Monday 16 March 00:00

    tick = Scheduler(ctx, "test").run_once()
    assert tick.timers.fired == 1

    [sv] = notifications.list_notifications(ctx, LENA)
    [en] = notifications.list_notifications(ctx, ERIK)
    [task] = task_queries.list_tasks(ctx, ADMIN, view.number, everyone=True)
    assert sv.subject == f"Påminnelse: Fatta beslut i {view.number}"
    assert en.subject == f"Reminder: Fatta beslut in {view.number}"
    assert sv.link == en.link == f"http://127.0.0.1:5000/tasks/{task.id}"
    assert "ska vara klar senast 2026-03-30 00:00" in sv.body
    assert notifications.unread_count(ctx, LENA) == 1

    held = jobs.list_outbox(ctx, ADMIN)
    assert sorted((j.to, j.status) for j in held) == [("erik@example.se", "held"), ("lena@example.se", "held")]
    assert Scheduler(ctx, "test").run_once().worked is False  # nothing twice
    assert len(jobs.list_outbox(ctx, ADMIN)) == 2
    assert len(notifications.list_notifications(ctx, LENA)) == 1
    with pytest.raises(Forbidden):
        jobs.list_outbox(ctx, ANNA)


def test_people_read_only_their_own_notifications_and_mark_them_read(ctx, frozen_clock) -> None:
    view = start_decision(ctx, frozen_clock)
    people(ctx)  # they join after the task opened: only the reminder is theirs to receive
    reach_reminder(ctx, view)
    Scheduler(ctx, "test").run_once()
    [mine] = notifications.list_notifications(ctx, LENA)
    assert notifications.mark_read(ctx, ERIK, [mine.id]) == 0  # not Erik's
    assert notifications.unread_count(ctx, LENA) == 1
    assert notifications.mark_read(ctx, LENA, [mine.id]) == 1
    assert notifications.list_notifications(ctx, LENA, unread_only=True) == []
    assert notifications.unread_count(ctx, ERIK) == 1


def test_a_reminder_nobody_can_receive_is_an_incident_an_admin_can_retry_or_dismiss(ctx, frozen_clock) -> None:
    view = start_decision(ctx, frozen_clock)  # nobody is in innovation-leads yet
    reach_reminder(ctx, view)
    Scheduler(ctx, "test").run_once()
    [incident] = jobs.list_job_incidents(ctx, ADMIN)
    assert incident.kind == "notification" and "nobody to notify" in incident.last_error
    with pytest.raises(Forbidden):
        jobs.list_job_incidents(ctx, ANNA)
    with pytest.raises(Forbidden):
        jobs.retry_job(ctx, incident.id, LENA)

    people(ctx)
    assert jobs.retry_job(ctx, incident.id, ADMIN).status == "pending"
    Scheduler(ctx, "test").run_once()
    assert jobs.list_job_incidents(ctx, ADMIN) == []
    assert [n.subject for n in notifications.list_notifications(ctx, LENA)] == [
        f"Påminnelse: Fatta beslut i {view.number}"]
    with pytest.raises(Conflict):
        jobs.dismiss_job(ctx, incident.id, ADMIN)  # it is done, not failed
    with pytest.raises(NotFound):
        jobs.retry_job(ctx, 999_999, ADMIN)


def test_a_dismissed_incident_stays_dismissed(ctx, frozen_clock) -> None:
    view = start_decision(ctx, frozen_clock)
    reach_reminder(ctx, view)
    Scheduler(ctx, "test").run_once()
    [incident] = jobs.list_job_incidents(ctx, ADMIN)
    assert jobs.dismiss_job(ctx, incident.id, ADMIN).status == "dismissed"
    assert jobs.list_job_incidents(ctx, ADMIN) == []
    clock.advance(timedelta(days=1))
    assert Scheduler(ctx, "test").run_once().worked is False


def test_mails_go_out_once_with_a_message_id_from_their_key(smtp_ctx, mail_server, frozen_clock) -> None:
    view = start_decision(smtp_ctx, frozen_clock)
    people(smtp_ctx)  # they join after the task opened: only the reminder is theirs to receive
    reach_reminder(smtp_ctx, view)
    tick = Scheduler(smtp_ctx, "test").run_once()
    assert tick.sent == 2
    got = sorted(mail_server.received(), key=lambda m: m.to)
    assert [(m.to, m.language, m.subject) for m in got] == [
        ("erik@example.se", "en", f"Reminder: Fatta beslut in {view.number}"),
        ("lena@example.se", "sv", f"Påminnelse: Fatta beslut i {view.number}")]
    assert all(f"{BASE}/tasks/" in m.body for m in got)
    assert got[0].date == "2026-03-23 00:00"
    assert len({m.message_id for m in got}) == 2
    assert Scheduler(smtp_ctx, "test").run_once().sent == 0
    assert len(mail_server.received()) == 2
    assert {j.status for j in jobs.list_outbox(smtp_ctx, ADMIN)} == {"sent"}


def test_a_daily_digest_collects_the_mails_until_7_on_a_working_day(smtp_ctx, mail_server,
                                                                          frozen_clock) -> None:
    view = start_decision(smtp_ctx, frozen_clock)
    people(smtp_ctx, lena_mode="daily")  # they join after the task opened: only the reminder is theirs to receive
    reach_reminder(smtp_ctx, view)  # Monday 23 March 00:00
    Scheduler(smtp_ctx, "test").run_once()
    assert [m.to for m in mail_server.received()] == ["erik@example.se"]
    assert len(notifications.list_notifications(smtp_ctx, LENA)) == 1  # in the app at once

    clock.freeze(datetime(2026, 3, 23, 6, 59, tzinfo=STOCKHOLM))
    Scheduler(smtp_ctx, "test").run_once()
    assert len(mail_server.received()) == 1
    clock.freeze(datetime(2026, 3, 23, 7, 0, tzinfo=STOCKHOLM))
    Scheduler(smtp_ctx, "test").run_once()
    Scheduler(smtp_ctx, "test").run_once()
    digest = [m for m in mail_server.received() if m.to == "lena@example.se"]
    assert len(digest) == 1
    assert digest[0].subject == "Sammanfattning från IPHS Flow: 1 meddelande"
    assert f"Påminnelse: Fatta beslut i {view.number}" in digest[0].body


@pytest.mark.parametrize(("mode", "at", "slot"), [
    ("daily", datetime(2026, 3, 12, 6, 0, tzinfo=STOCKHOLM), "2026-03-12 07:00"),
    ("daily", datetime(2026, 3, 12, 7, 0, tzinfo=STOCKHOLM), "2026-03-13 07:00"),
    ("daily", datetime(2026, 3, 13, 16, 0, tzinfo=STOCKHOLM), "2026-03-16 07:00"),  # Friday -> Monday
    ("daily", datetime(2026, 4, 2, 12, 0, tzinfo=STOCKHOLM), "2026-04-07 07:00"),  # Easter
    ("weekly", datetime(2026, 3, 12, 12, 0, tzinfo=STOCKHOLM), "2026-03-16 07:00"),
    ("weekly", datetime(2026, 3, 30, 12, 0, tzinfo=STOCKHOLM), "2026-04-07 07:00"),  # Easter Monday
])
def test_digests_go_out_at_7_on_working_days(mode: str, at: datetime, slot: str) -> None:
    assert local(notifications.digest_slot(mode, at.astimezone(timezone.utc))) == slot


def test_an_smtp_outage_is_retried_with_backoff_and_the_mail_arrives_after_it(smtp_ctx, mail_server,
                                                                             frozen_clock) -> None:
    view = start_decision(smtp_ctx, frozen_clock)
    people(smtp_ctx)  # they join after the task opened: only the reminder is theirs to receive
    reach_reminder(smtp_ctx, view)
    mail_server.stop()
    tick = Scheduler(smtp_ctx, "test").run_once()
    assert tick.sent == 0 and sum(j.retried for j in tick.jobs) == 2
    waiting = jobs.list_outbox(smtp_ctx, ADMIN, status="pending")
    assert {j.attempts for j in waiting} == {1} and all("Connection" in (j.last_error or "") for j in waiting)
    assert {j.due_at - clock.now() for j in waiting} == {timedelta(seconds=60)}

    mail_server.start()
    assert Scheduler(smtp_ctx, "test").run_once().sent == 0  # not before the backoff
    clock.advance(timedelta(seconds=61))
    assert Scheduler(smtp_ctx, "test").run_once().sent == 2
    assert sorted(m.to for m in mail_server.received()) == ["erik@example.se", "lena@example.se"]


def test_a_mail_that_fails_every_attempt_becomes_an_incident_and_is_sent_after_retry(smtp_ctx, mail_server,
                                                                                    frozen_clock) -> None:
    view = start_decision(smtp_ctx, frozen_clock)
    people(smtp_ctx)  # they join after the task opened: only the reminder is theirs to receive
    reach_reminder(smtp_ctx, view)
    mail_server.stop()
    for _ in range(3):  # mail_max_attempts
        Scheduler(smtp_ctx, "test").run_once()
        clock.advance(timedelta(hours=1))
    failed = jobs.list_job_incidents(smtp_ctx, ADMIN)
    assert sorted(j.to for j in failed) == ["erik@example.se", "lena@example.se"]
    assert all(j.attempts == 3 for j in failed)
    clock.advance(timedelta(days=1))
    assert Scheduler(smtp_ctx, "test").run_once().worked is False  # an incident waits for a person

    mail_server.start()
    for job in failed:
        jobs.retry_job(smtp_ctx, job.id, ADMIN)
    assert Scheduler(smtp_ctx, "test").run_once().sent == 2
    assert len(mail_server.received()) == 2


def test_people_choose_their_own_mail_setting_and_admins_anyones(ctx) -> None:
    people(ctx)
    assert notifications.set_notify_mode(ctx, LENA, "lena", "weekly") == "weekly"
    assert accounts.get_user(ctx, "lena").notify_mode == "weekly"
    with pytest.raises(Forbidden):
        notifications.set_notify_mode(ctx, LENA, "erik", "daily")
    with pytest.raises(InvalidInput) as refused:
        notifications.set_notify_mode(ctx, LENA, "lena", "hourly")
    assert "notify_mode" in refused.value.fields
    assert accounts.get_user(ctx, "lena").notify_mode == "weekly"
    assert notifications.set_notify_mode(ctx, ADMIN, "erik", "daily") == "daily"
    with pytest.raises(NotFound):
        notifications.set_notify_mode(ctx, ADMIN, "nobody", "daily")

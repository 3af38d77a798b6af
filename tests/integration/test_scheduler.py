"""The scheduler loop: it wakes for the earliest timer or job, and runs inside the app process."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from click.testing import CliRunner

from iphs_flow.cli import cli
from iphs_flow.engine import clock
from iphs_flow.engine.clock import now
from iphs_flow.scheduler import Scheduler, start_in_background
from iphs_flow.services import accounts, cases, jobs, notifications, processes
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN, ANNA, DESIGNER, fixture_files, make_context
from tests.smtp_server import MailServer

OWNER = Actor("olle", frozenset({"idea_owner"}))


def test_the_scheduler_sleeps_until_the_earliest_timer_but_never_past_its_poll_interval(ctx, frozen_clock) -> None:
    loop = Scheduler(ctx, "test")
    assert loop.seconds_until_due() == ctx.settings.scheduler_poll_seconds  # nothing is due at all
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    cases.start_case(ctx, "scheduler_reminder", {"remind_at": (now() + timedelta(seconds=1.25)).isoformat()},
                     ANNA)
    assert loop.seconds_until_due() == 1.25
    clock.advance(timedelta(seconds=2))
    assert loop.seconds_until_due() == 0.0
    loop.run_once()
    assert loop.seconds_until_due() == ctx.settings.scheduler_poll_seconds


def test_the_background_scheduler_fires_a_short_timer_and_delivers_its_reminder(sqlite_url) -> None:
    ctx = make_context(sqlite_url, scheduler_poll_seconds=0.5)
    accounts.add_user(ctx, "olle", "Olle Ost", email="olle@example.se")
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    view = cases.start_case(ctx, "scheduler_reminder", {"remind_at": (now() + timedelta(seconds=1)).isoformat()},
                            OWNER)
    background = start_in_background(ctx)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not notifications.list_notifications(ctx, OWNER):
            time.sleep(0.1)
    finally:
        background.shutdown(wait=True)
        ctx.close()
    [note] = notifications.list_notifications(ctx, OWNER)
    assert note.subject == f"Påminnelse: Svara i {view.number}"
    history = [e.kind for e in cases.get_case(ctx, view.number, ADMIN).history]
    assert history.count("timer_fired") == 1


def test_the_cli_lists_held_mails_and_failed_jobs_and_retries_them(sqlite_url, frozen_clock) -> None:
    ctx = make_context(sqlite_url)
    accounts.add_user(ctx, "olle", "Olle Ost", email="olle@example.se")
    accounts.set_active(ctx, "olle", False, ADMIN)  # on leave: nobody can receive the reminder
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    cases.start_case(ctx, "scheduler_reminder", {"remind_at": now().isoformat()}, OWNER)
    clock.advance(timedelta(seconds=1))
    runner = CliRunner()
    ran = runner.invoke(cli, ["scheduler", "--once"], obj=ctx)
    assert ran.exit_code == 0 and "1 timer(s) fired" in ran.output and "0 mail(s) sent" in ran.output
    listed = runner.invoke(cli, ["incidents"], obj=ctx)
    [job] = jobs.list_job_incidents(ctx, ADMIN)
    assert f"{job.id}\tnotification\tincident" in listed.output and "nobody to notify" in listed.output

    accounts.set_active(ctx, "olle", True, ADMIN)
    retried = runner.invoke(cli, ["incidents", "retry", str(job.id)], obj=ctx)
    assert retried.exit_code == 0 and "pending" in retried.output
    runner.invoke(cli, ["scheduler", "--once"], obj=ctx)
    assert runner.invoke(cli, ["incidents"], obj=ctx).output.strip() == "No failed jobs."
    outbox = runner.invoke(cli, ["outbox", "--status", "held", "--body"], obj=ctx)
    assert "olle@example.se" in outbox.output and "Påminnelse: Svara i" in outbox.output
    assert 'Uppgiften "Svara"' in outbox.output

    refused = runner.invoke(cli, ["incidents", "dismiss", str(job.id)], obj=ctx)
    assert refused.exit_code == 1 and "Conflict" in refused.output
    denied = runner.invoke(cli, ["outbox", "--as", "olle"], obj=ctx)
    assert denied.exit_code == 1 and "Forbidden" in denied.output
    mode = runner.invoke(cli, ["notifications", "mode", "olle", "weekly"], obj=ctx)
    assert mode.exit_code == 0 and accounts.get_user(ctx, "olle").notify_mode == "weekly"
    ctx.close()


def test_a_slow_smtp_server_does_not_let_another_scheduler_take_over_a_batch(sqlite_url) -> None:
    """Leases are renewed while a batch is being sent, so a second scheduler never resends it."""
    server = MailServer(delay=0.4).start()
    ctx = make_context(sqlite_url, smtp_host="127.0.0.1", smtp_port=server.port, job_lease_seconds=0.9)
    try:
        accounts.add_user(ctx, "olle", "Olle Ost", email="olle@example.se")
        processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
        for _ in range(4):
            cases.start_case(ctx, "scheduler_reminder", {"remind_at": now().isoformat()}, OWNER)
        time.sleep(0.01)
        first = threading.Thread(target=Scheduler(ctx, "first").run_once)
        first.start()
        server.wait_for(1, timeout=20)
        second = Scheduler(ctx, "second")
        while first.is_alive():
            second.run_once()
            time.sleep(0.1)
        first.join()
        second.run_once()
    finally:
        server.stop()
        ctx.close()
    received = server.received()
    assert len(received) == 4 and len({m.message_id for m in received}) == 4

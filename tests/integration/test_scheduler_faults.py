"""One broken case never stops the timers of the others, nor the mail."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from iphs_flow.engine import clock
from iphs_flow.engine.clock import now
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, cases, notifications, processes, timers
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import ProcessVersion
from tests.bpmn_builder import timer_process
from tests.conftest import ADMIN, ANNA, DESIGNER, fixture_files, make_context

OWNER = Actor("olle", frozenset({"idea_owner"}))


def _break_stored_version(ctx, key: str) -> None:
    """The stored XML of a version no longer parses (a hand-edited database, a bad migration)."""
    with ctx.uow.write() as tx:
        version = tx.session.query(ProcessVersion).filter_by(process_key=key).one()
        version.files = {name: "<bpmn:definitions" for name in version.files}
        tx.commit()


def test_the_most_overdue_case_failing_in_any_way_goes_to_incident_and_the_others_still_fire(
        ctx, frozen_clock) -> None:
    processes.deploy_process(ctx, {"broken.bpmn": timer_process("wake_at", key="broken_timer")}, DESIGNER)
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    broken = cases.start_case(ctx, "broken_timer", {"wake_at": (now() + timedelta(seconds=1)).isoformat()}, ANNA)
    good = cases.start_case(ctx, "scheduler_reminder", {"remind_at": (now() + timedelta(seconds=2)).isoformat()},
                            ANNA)
    _break_stored_version(ctx, "broken_timer")
    clock.advance(timedelta(seconds=5))

    run = timers.fire_due_timers(ctx)

    assert (run.due, run.fired, run.incidents) == (2, 1, 1)
    with ctx.uow.read() as tx:  # the case page cannot show it: its model does not parse
        failed = tx.cases.by_number(broken.number)
        assert failed.status == "incident"
        assert "the timer step failed" in failed.incident
        assert "incident" in [e.kind for e in tx.events.for_case(failed.id)]
    assert "timer_fired" in [e.kind for e in cases.get_case(ctx, good.number, ADMIN).history]
    assert timers.fire_due_timers(ctx).due == 0  # the incident case is not due any more


def test_mail_goes_out_while_the_timer_loop_is_busy(sqlite_url) -> None:
    """The scheduler runs timers and jobs as two loops: a timer step that takes long holds up no mail."""
    ctx = make_context(sqlite_url, scheduler_poll_seconds=0.5)
    try:
        accounts.add_user(ctx, "olle", "Olle Ost", email="olle@example.se")
        processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
        cases.start_case(ctx, "scheduler_reminder", {"remind_at": now().isoformat()}, OWNER)
        loop = Scheduler(ctx, "test")
        loop.tick_timers()  # the reminder fires and leaves a notification job
        assert not notifications.list_notifications(ctx, OWNER)
        busy = threading.Event()
        release = threading.Event()

        def slow_timers() -> None:
            with loop._timers_busy:  # the timer loop is inside a long step
                busy.set()
                release.wait(10)

        holder = threading.Thread(target=slow_timers)
        holder.start()
        busy.wait(5)
        started = time.monotonic()
        loop.tick_jobs()
        elapsed = time.monotonic() - started
        release.set()
        holder.join()
        assert notifications.list_notifications(ctx, OWNER)
        assert elapsed < 5
    finally:
        ctx.close()

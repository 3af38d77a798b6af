"""APScheduler only ticks the loop; due work lives in the database (DESIGN.md).

One tick fires due BPMN timers and does due outbox jobs (notifications, digests, mails)
until nothing is due, then looks up when the next timer or job falls due and sleeps
exactly that long - so a timer fires within moments of its due time - but never longer
than the poll interval (`IPHS_SCHEDULER_POLL_SECONDS`, 2 s), because another process may
have just created something due sooner. Any number of schedulers may run against one
PostgreSQL database: the rows are leased, never held in memory.

Timers and jobs run as two APScheduler jobs, each in its own thread: a timer step that
takes long (up to the engine's wall-clock limit) never holds up a mail.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import astuple, dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.notify.mailer import SmtpMailer
from iphs_flow.services import login_throttle, portfolio_news, sessions
from iphs_flow.services.idempotency import purge_expired
from iphs_flow.services.jobs import JobRun, MailerFactory, next_job_due, process_due_jobs, worker_name
from iphs_flow.services.readiness import beat
from iphs_flow.services.retention import apply_approved_weeding
from iphs_flow.services.timers import fire_due_timers, next_timer_at
from iphs_flow.services.views import TimerRun

log = logging.getLogger(__name__)
MAX_ROUNDS = 50
PURGE_EVERY_SECONDS = 3600.0
BEAT_EVERY_SECONDS = 5.0
MONTHLY_EVERY_SECONDS = 60.0


@dataclass
class Tick:
    timers: TimerRun = field(default_factory=TimerRun)
    jobs: list[JobRun] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(j.sent for j in self.jobs)

    @property
    def worked(self) -> bool:
        return bool(self.timers.due or any(j.claimed for j in self.jobs))


class Scheduler:
    """The loop body, independent of APScheduler so tests can drive it tick by tick."""

    def __init__(self, ctx: AppContext, worker: str | None = None, mailer: MailerFactory = SmtpMailer) -> None:
        self.ctx = ctx
        self.worker = worker or worker_name()
        self.mailer = mailer
        self.stopping = threading.Event()
        self._timers_busy = threading.Lock()
        self._jobs_busy = threading.Lock()
        self._next_purge = 0.0
        self._next_beat = 0.0
        self._next_monthly = 0.0

    def run_once(self) -> Tick:
        """Fire due timers, then do due jobs until none is left (mails follow notifications).

        Timers that fall due while a long batch of mails goes out are fired between
        batches, so mail volume does not make timers late.
        """
        self._beat()
        self.monthly_digests()
        tick = Tick(timers=self._fire_if_due())
        job_due = next_job_due(self.ctx)
        if job_due is None or job_due > now():
            return tick
        for _ in range(MAX_ROUNDS):
            if self.stopping.is_set():
                break
            run = process_due_jobs(self.ctx, self.worker, mailer=self.mailer)
            tick.jobs.append(run)
            if not run.claimed:
                break
            more = self._fire_if_due()
            tick.timers = TimerRun(*(a + b for a, b in zip(astuple(tick.timers), astuple(more), strict=True)))
        return tick

    def _beat(self) -> None:
        """Tell `/readyz` this scheduler is alive, at most every few seconds."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + min(BEAT_EVERY_SECONDS, self.ctx.settings.heartbeat_stale_seconds / 4)
        beat(self.ctx, self.worker)

    def monthly_digests(self) -> int:
        """At most once a minute: queue last month's "Nytt i portföljen" digests once their day has
        come (services/portfolio_news.py; the job keys make every scheduler queue them once)."""
        if time.monotonic() < self._next_monthly:
            return 0
        self._next_monthly = time.monotonic() + MONTHLY_EVERY_SECONDS
        try:
            return portfolio_news.queue_due(self.ctx)
        except Exception:  # noqa: BLE001 - a failed digest queue must not stop timers and mails
            log.exception("queueing the monthly digests failed")
            return 0

    def housekeeping(self) -> int:
        """At most once an hour per scheduler: delete API idempotency keys past their 24 hours
        (and old session records and login failures), and weed what an administrator's approved
        weeding list names; returns the keys deleted and the items weeded."""
        if time.monotonic() < self._next_purge:
            return 0
        self._next_purge = time.monotonic() + PURGE_EVERY_SECONDS
        sessions.purge_old(self.ctx)
        login_throttle.purge_older_than(self.ctx)
        return purge_expired(self.ctx) + apply_approved_weeding(self.ctx)

    def _fire_if_due(self) -> TimerRun:
        # Look before taking a write lock: on SQLite every write transaction waits for the others.
        due = next_timer_at(self.ctx)
        return fire_due_timers(self.ctx) if due is not None and due <= now() else TimerRun()

    def seconds_until_due(self) -> float:
        """Sleep until the earliest timer or job, but at most the poll interval."""
        poll = self.ctx.settings.scheduler_poll_seconds
        times = [t for t in (next_timer_at(self.ctx), next_job_due(self.ctx)) if t is not None]
        if not times:
            return poll
        return max(0.0, min(poll, (min(times) - now()).total_seconds()))

    def tick(self) -> None:
        """One run of both loops in this thread (what `iphs-flow tick`-like callers want)."""
        self.tick_timers()
        self.tick_jobs()

    def tick_timers(self) -> None:
        """One APScheduler run of the timer loop: fire due timers until none is left."""
        def work() -> bool:
            run = self._fire_if_due()
            if run.due:
                log.info("%s: %s timer(s) fired, %s incident(s)", self.worker, run.fired, run.incidents)
            return run.due > 0

        self._loop(self._timers_busy, work, lambda: next_timer_at(self.ctx), housekeeping=True)

    def tick_jobs(self) -> None:
        """One APScheduler run of the job loop: notifications, digests and mails.

        It runs in its own thread, beside the timer loop: a slow or killed timer step
        never makes a mail wait.
        """
        self.monthly_digests()

        def work() -> bool:
            run = process_due_jobs(self.ctx, self.worker, mailer=self.mailer)
            if run.claimed:
                log.info("%s: %s job(s) done, %s mail(s) sent", self.worker, run.done, run.sent)
            return bool(run.claimed)

        self._loop(self._jobs_busy, work, lambda: next_job_due(self.ctx))

    def _loop(self, busy: threading.Lock, work: Any, next_due: Any, housekeeping: bool = False) -> None:
        """Work, then wait for anything due before the next run, for one poll interval."""
        if not busy.acquire(blocking=False):
            return
        try:
            poll = self.ctx.settings.scheduler_poll_seconds
            deadline = time.monotonic() + poll
            if housekeeping:
                try:
                    self.housekeeping()
                except Exception:  # noqa: BLE001 - housekeeping must not stop timers and mails
                    log.exception("housekeeping (idempotency keys, sessions, weeding) failed")
            while not self.stopping.is_set():
                try:
                    for _ in range(MAX_ROUNDS):
                        if self.stopping.is_set() or not work():
                            break
                    due = next_due()
                    delay = poll if due is None else max(0.0, min(poll, (due - now()).total_seconds()))
                except Exception:  # noqa: BLE001 - one failed tick must not stop the scheduler
                    log.exception("scheduler tick failed")
                    return
                if time.monotonic() + delay >= deadline:
                    return
                self.stopping.wait(max(delay, 0.01))
        finally:
            busy.release()

    def install(self, aps: Any) -> None:
        """Two APScheduler jobs, so timers and mail each have their own thread."""
        for job_id, func in (("iphs-timers", self.tick_timers), ("iphs-jobs", self.tick_jobs)):
            aps.add_job(func, "interval", seconds=self.ctx.settings.scheduler_poll_seconds,
                        next_run_time=datetime.now().astimezone(), max_instances=1, coalesce=True,
                        misfire_grace_time=None, id=job_id)


def start_in_background(ctx: AppContext) -> BackgroundScheduler:
    """Tick inside the web process: the embedded default needs no second process."""
    scheduler = BackgroundScheduler(daemon=True)
    Scheduler(ctx).install(scheduler)
    scheduler.start()
    return scheduler


def run_forever(ctx: AppContext, worker: str | None = None) -> None:
    """`iphs-flow scheduler`: its own process, until SIGTERM or Ctrl-C."""
    loop = Scheduler(ctx, worker)
    aps = BlockingScheduler()
    loop.install(aps)

    def _stop(_signum: int, _frame: Any) -> None:
        loop.stopping.set()
        aps.shutdown(wait=False)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("scheduler %s started", loop.worker)
    try:
        aps.start()
    except (KeyboardInterrupt, SystemExit):
        loop.stopping.set()

"""APScheduler only ticks the loop; due work lives in the database (DESIGN.md)."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from iphs_flow.bootstrap import AppContext
from iphs_flow.services.timers import fire_due_timers

log = logging.getLogger(__name__)
TICK_SECONDS = 2


def _tick(ctx: AppContext) -> None:
    try:
        run = fire_due_timers(ctx)
        if run.fired:
            log.info("timers: %s fired, %s incidents, %s skipped", run.fired, run.incidents, run.conflicts)
    except Exception:  # noqa: BLE001 - one failed tick must not stop the scheduler
        log.exception("timer tick failed")


def start_in_background(ctx: AppContext, seconds: int = TICK_SECONDS) -> BackgroundScheduler:
    """Tick inside the web process: the embedded default needs no second process."""
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(_tick, "interval", seconds=seconds, args=[ctx], max_instances=1, coalesce=True,
                      id="timers")
    scheduler.start()
    return scheduler

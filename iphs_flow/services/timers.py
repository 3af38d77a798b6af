"""Fire due BPMN timers: the scheduler and `iphs-flow tick` call this."""

from __future__ import annotations

import json

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import runtime
from iphs_flow.engine.clock import now

from .case_sync import ENGINE, apply_step
from .errors import StaleCase
from .processes import model_for
from .views import TimerRun


def fire_due_timers(ctx: AppContext, limit: int | None = None) -> TimerRun:
    """Fire every case whose earliest timer is due, each in its own transaction.

    Each transaction takes the most overdue case with `FOR UPDATE SKIP LOCKED` (on
    PostgreSQL), so several schedulers share the work without firing a case twice; on
    SQLite BEGIN IMMEDIATE serialises them. A case that someone else changed meanwhile
    is skipped (its new timer is picked up by the next tick); a failing timer expression
    or script puts that case in incident and the others still run.
    """
    at = now()
    seen: list[int] = []
    fired = incidents = conflicts = 0
    for _ in range(limit or ctx.settings.timer_batch):
        try:
            with ctx.uow.write() as tx:
                case = tx.cases.lock_next_due(at, exclude=seen)
                if case is None:
                    break
                seen.append(case.id)
                model = model_for(ctx, case.process_version)
                result = runtime.fire_timers(model, json.loads(case.state), ctx.settings.script_time_limit)
                apply_step(tx, case, result, ctx.settings.lane_groups, ENGINE)
                tx.commit()
                fired += 1
                incidents += result.status == "incident"
        except StaleCase:  # someone else changed the case meanwhile: its new timer fires next tick
            conflicts += 1
    return TimerRun(due=len(seen), fired=fired, incidents=incidents, conflicts=conflicts)


def next_timer_at(ctx: AppContext):  # noqa: ANN201 - datetime | None
    """When the scheduler should wake next."""
    with ctx.uow.read() as tx:
        return tx.cases.earliest_timer()

"""Fire due BPMN timers: the scheduler and `iphs-flow tick` call this."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now

from .case_sync import ENGINE, apply_step, engine_ref
from .errors import StaleCase
from .views import TimerRun

log = logging.getLogger(__name__)


def fire_due_timers(ctx: AppContext, limit: int | None = None) -> TimerRun:
    """Fire every case whose earliest timer is due, each in its own transaction.

    A case is read (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so several schedulers
    pick different cases), its step runs in an engine worker with no transaction open
    (on SQLite a write transaction locks the whole database, and a step may run up to
    its wall-clock limit), and the result is stored only if the case is unchanged; a
    case that someone else changed meanwhile is counted as a conflict and picked up by
    the next tick. A case whose step fails in any way (a failing script, a step over a
    limit, a stored version that no longer parses, a step that cannot be stored) goes to
    incident in a transaction of its own and the round goes on: incident cases are not
    due any more, so one broken case never blocks the others.
    """
    at = now()
    seen: list[int] = []
    fired = incidents = conflicts = 0
    for _ in range(limit or ctx.settings.timer_batch):
        case_id: int | None = None
        try:
            with ctx.uow.read() as tx:
                case = tx.cases.lock_next_due(at, exclude=seen)
                if case is None:
                    break
                case_id, seen_version = case.id, case.version
                seen.append(case.id)
                ref, state = engine_ref(case.process_version), case.state
            result = ctx.engine.fire_timers(ref, state, ctx.settings.script_time_limit)
            with ctx.uow.write() as tx:
                case = tx.cases.get(case_id)
                if case is None or case.version != seen_version or case.status != "running":
                    conflicts += 1
                    continue
                apply_step(tx, case, result, ctx.settings.lane_groups, ENGINE)
                tx.commit()
                fired += 1
                incidents += result.status == "incident"
        except StaleCase:  # someone else changed the case meanwhile: its new timer fires next tick
            conflicts += 1
        except OperationalError:
            raise  # the database itself is down or locked: nothing per case to record
        except Exception as err:  # noqa: BLE001 - one broken case must not stop the others
            if case_id is None:
                raise
            log.exception("timer step of case %s failed", case_id)
            if _put_in_incident(ctx, case_id, f"the timer step failed: {type(err).__name__}: {err}"):
                incidents += 1
    return TimerRun(due=len(seen), fired=fired, incidents=incidents, conflicts=conflicts)


def _put_in_incident(ctx: AppContext, case_id: int, message: str) -> bool:
    """Record an incident on a case whose step could not even be stored; its state stays."""
    try:
        with ctx.uow.write() as tx:
            case = tx.cases.get(case_id)
            if case is None or case.status != "running":
                return False
            case.status = "incident"
            case.incident = message[:2000]
            case.next_timer_at = None
            case.updated_at = now()
            tx.events.add(case.id, ENGINE, "incident", data={"message": case.incident})
            tx.commit()
        return True
    except (StaleCase, StaleDataError):
        return False


def next_timer_at(ctx: AppContext):  # noqa: ANN201 - datetime | None
    """When the scheduler should wake next."""
    with ctx.uow.read() as tx:
        return tx.cases.earliest_timer()

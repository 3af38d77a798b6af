"""Is this installation ready to serve? (`/readyz`; liveness is `/healthz`.)

Ready means: the database answers, its schema is at the newest migration, and some
scheduler ticked within `IPHS_HEARTBEAT_STALE_SECONDS` (timers and mail would otherwise
stand still while the pages look fine). Schedulers record their tick in
`scheduler_heartbeat`, one row each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.migrate import alembic_config, current
from iphs_flow.store.tables import SchedulerHeartbeat


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)


@cache
def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def beat(ctx: AppContext, worker: str) -> None:
    """Record that `worker` (a scheduler) is ticking now."""
    with ctx.uow.write() as tx:
        row = tx.session.get(SchedulerHeartbeat, worker)
        if row is None:
            tx.session.add(SchedulerHeartbeat(worker=worker, beat_at=now()))
        else:
            row.beat_at = now()
        tx.commit()


def last_beat(ctx: AppContext) -> datetime | None:
    with ctx.uow.read() as tx:
        return tx.session.execute(select(func.max(SchedulerHeartbeat.beat_at))).scalar_one_or_none()


def readiness(ctx: AppContext) -> Readiness:
    try:
        with ctx.uow.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as err:
        return Readiness((Check("database", False, f"unreachable: {type(err.__cause__ or err).__name__}"),))
    checks = [Check("database", True, "reachable")]
    applied, heads = current(ctx.uow.engine), head_revisions()
    at = f"at {', '.join(applied) or 'nothing'}"
    if applied != heads:
        at += f"; run `iphs-flow db upgrade` to {', '.join(heads)}"
    checks.append(Check("migrations", applied == heads, at))
    try:
        beat_at = last_beat(ctx)
    except SQLAlchemyError:
        beat_at = None  # no heartbeat table yet: the migrations check says why
    stale = timedelta(seconds=ctx.settings.heartbeat_stale_seconds)
    if beat_at is None:
        checks.append(Check("scheduler", False, "no scheduler has ticked yet"))
    else:
        age = (now() - beat_at).total_seconds()
        checks.append(Check("scheduler", now() - beat_at <= stale, f"last tick {age:.0f} s ago"))
    return Readiness(tuple(checks))

"""Migration 0024: cases from before the `stage_entered` history event get theirs, so they count in the portfolio.

Real cases of the shipped process are driven through the service layer (with live
`stage_entered` events), then made into cases of the old kind by deleting those events and
rebuilding the portfolio's summaries without them. The migration chain is taken down to
0023 and up again; the events it writes must be the live ones (stage, stage before, time),
marked as backfilled, and the funnel and times in stage what they were. Each test runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import delete, func, select

from iphs_flow.engine import clock
from iphs_flow.services.queries import portfolio as pf
from iphs_flow.store.migrate import MIGRATIONS, alembic_config, upgrade
from iphs_flow.store.tables import CaseEvent, HumanTask, PortfolioCase, PortfolioGate, PortfolioStay
from tests.integration.process_driver import (
    CONCEPT,
    G1_APPROVE,
    G2_APPROVE,
    UNDERSTAND,
    Walk,
    shipped_context,
)
from tests.people import LEAD

T0 = datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc)  # Tuesday before Easter, 09:00 in Stockholm


def _migration():
    spec = importlib.util.spec_from_file_location("m0024", MIGRATIONS / "versions" / "0024_stage_entered_backfill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ctx(db_url):
    context = shipped_context(db_url)
    clock.freeze(T0)
    yield context
    context.close()


def later(days: float) -> None:
    clock.freeze(T0 + timedelta(days=days))


def walk_cases(ctx) -> list[Walk]:
    """A recycled from G2 back to understanding and through G2 again; B rejected at G1; C waiting at G1."""
    a, b, c = Walk.to_g1(ctx), Walk.to_g1(ctx), Walk.to_g1(ctx)
    later(2)
    a.complete("G1_decide", G1_APPROVE)
    a.complete("understand", UNDERSTAND)  # the same moment: two moves (into 1, into 2) at one time
    later(6)
    b.complete("G1_decide", {"decision": "rejected", "reason": "Finns redan"})
    a.complete("concept", CONCEPT)
    later(9)
    a.complete("G2_decide", {"decision": "recycle", "reason": "Fler användare", "recycle_to_stage": 1})
    later(14)
    a.complete("understand", UNDERSTAND)
    a.complete("concept", CONCEPT)
    later(20)
    a.complete("G2_decide", G2_APPROVE)
    later(21)
    return [a, b, c]


def stage_events(ctx, case_id: int) -> list[tuple]:
    with ctx.uow.read() as tx:
        events = tx.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                            CaseEvent.kind == "stage_entered")
                                    .order_by(CaseEvent.at, CaseEvent.id))
        return [(e.data["stage"], e.data["from"], e.at, e.data.get("backfilled", False)) for e in events]


def rows(portfolio: pf.Portfolio, key: str) -> list[tuple]:
    return [tuple(r) for r in portfolio.table(key).rows]


def to_the_old_kind(ctx) -> None:
    """No stage_entered events, and the portfolio's summaries built without them (as they were before 0024)."""
    with ctx.uow.write() as tx:
        tx.session.execute(delete(CaseEvent).where(CaseEvent.kind == "stage_entered"))
        for table in (PortfolioGate, PortfolioStay, PortfolioCase):
            tx.session.execute(delete(table))
        tx.commit()


def down_to_0023_and_up(ctx) -> None:
    engine = ctx.uow.engine
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0023")
    upgrade(engine)


def test_cases_from_before_stage_entered_count_in_the_funnel_and_stage_times_after_the_upgrade(ctx) -> None:
    walks = walk_cases(ctx)
    live = {w.case_id: stage_events(ctx, w.case_id) for w in walks}
    assert [s for s, *_ in live[walks[0].case_id]] == [0, 1, 2, 1, 2, 3]  # the recycling is a move back
    expected = pf.read_portfolio(ctx, LEAD)

    to_the_old_kind(ctx)
    old = pf.read_portfolio(ctx, LEAD)
    assert {r[0]: r[1] for r in rows(old, "funnel")}[0] == 0 and rows(old, "stage_times") == []

    down_to_0023_and_up(ctx)
    for walk in walks:
        backfilled = stage_events(ctx, walk.case_id)
        assert [e[:3] for e in backfilled] == [e[:3] for e in live[walk.case_id]], walk.number
        assert all(e[3] is True for e in backfilled)
    after = pf.read_portfolio(ctx, LEAD)
    assert {r[0]: r[1] for r in rows(after, "funnel")} == {0: 3, 1: 1, 2: 1, 3: 1, 4: 0, 5: 0, 6: 0}
    for key in ("funnel", "stage_times", "gates", "gate_times", "outcomes"):
        assert rows(after, key) == rows(expected, key), key


def test_the_backfill_run_again_adds_nothing_and_the_downgrade_removes_only_what_it_wrote(ctx) -> None:
    walks = walk_cases(ctx)
    to_the_old_kind(ctx)
    down_to_0023_and_up(ctx)

    def count() -> int:
        with ctx.uow.read() as tx:
            return tx.session.scalar(select(func.count()).select_from(CaseEvent)
                                     .where(CaseEvent.kind == "stage_entered"))

    written = count()
    assert written == 8  # A: 0 1 2 1 2 3, B: 0, C: 0
    with ctx.uow.engine.begin() as connection:
        assert _migration().backfill_stage_entered(connection, batch=2) == 0
    assert count() == written

    walks[2].complete("G1_decide", G1_APPROVE)  # a live move after the upgrade
    live = [e for e in stage_events(ctx, walks[2].case_id) if not e[3]]
    assert [e[:2] for e in live] == [(1, 0)]
    engine = ctx.uow.engine
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0023")
    assert count() == 1 and [e for e in stage_events(ctx, walks[2].case_id)] == live
    upgrade(engine)


def test_a_case_without_tasks_takes_its_stages_from_its_records_and_its_current_stage(ctx) -> None:
    walk = Walk.to_g1(ctx)
    later(2)
    walk.complete("G1_decide", G1_APPROVE)
    later(3)
    walk.complete("understand", UNDERSTAND)
    later(4)
    to_the_old_kind(ctx)
    with ctx.uow.write() as tx:  # tasks gone: the stage records, the gate decision and the case's stage remain
        tx.session.execute(delete(HumanTask).where(HumanTask.case_id == walk.case_id))
        tx.commit()
    down_to_0023_and_up(ctx)
    moves = [(s, f) for s, f, _at, _b in stage_events(ctx, walk.case_id)]
    assert moves == [(0, None), (1, 0), (2, 1)]  # the need and G1 at 0, understanding at 1, now in 2
    assert {r[0]: r[1] for r in rows(pf.read_portfolio(ctx, LEAD), "funnel")}[2] == 1

"""The inbox index never drifts from the workflow state, whatever order things happen in.

The inbox (human_task) is written from each engine step by case_sync.apply_step, which
reads the open tasks once and works out what the step closed and opened. This test runs
a seeded random mix of case starts, task completions, timers falling due and migrations
to a new version, then reads every case's stored workflow state back through the engine
and compares its open tasks with the inbox rows, one by one.
"""

from __future__ import annotations

import contextlib
import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import text

from iphs_flow.engine import clock
from iphs_flow.services import cases, processes, timers, versions
from iphs_flow.services.case_sync import engine_ref
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.permissions import may_work_on
from iphs_flow.store.tables import Case, HumanTask
from tests.conftest import fixture_files
from tests.people import ADMIN, ANNA, BERTIL, DESIGNER, LEAD, MANAGER

REVIEW = fixture_files("review_loop.bpmn")["review_loop.bpmn"]
REVIEW_RENAMED = REVIEW.replace(b"Skriv utkast", b"Skriv ett utkast")
PEOPLE = (ANNA, BERTIL, LEAD, MANAGER)


def _data_for(task_key: str, rng: random.Random) -> dict:
    if task_key == "draft":
        return {"text": rng.choice(["Ett utkast", "Ett bättre utkast", "ok"])}
    answer: dict = {"approved": rng.random() < 0.4}
    if rng.random() < 0.5:
        answer["comment"] = rng.choice(["Bra", "", "Behöver mer underlag"])
    return answer


def _open_rows(ctx) -> list[tuple[int, str, str | None, str | None]]:
    with ctx.uow.read() as tx:
        return [(r.id, r.task_key, r.assignee, r.candidate_group)
                for r in tx.session.query(HumanTask).filter_by(state="open").order_by(HumanTask.id)]


def _complete_one(ctx, rng: random.Random) -> bool:
    rows = _open_rows(ctx)
    if not rows:
        return False
    task_id, task_key, assignee, group = rng.choice(rows)
    if task_key == "decide" and rng.random() < 0.8:
        return False  # left lying, so its escalation timer cancels it now and then
    actor = next((p for p in PEOPLE if may_work_on(p, assignee, group)), None)
    if actor is None:
        return False
    with contextlib.suppress(Conflict):  # the case is in an incident; the check below still holds
        cases.complete_task(ctx, task_id, _data_for(task_key, rng), actor)
    return True


def _reconcile(ctx) -> int:
    """Every case's open tasks by the engine equal its inbox rows; returns how many cases were checked."""
    with ctx.uow.read() as tx:
        all_cases = list(tx.session.query(Case).order_by(Case.id))
        for case in all_cases:
            state = json.loads(case.state)
            expected = {(t.id, t.bpmn_id, t.name, t.stage, t.form_key)
                        for t in ctx.engine.inspect(engine_ref(case.process_version), state).open_tasks} \
                if case.status in ("running", "suspended") else set()
            rows = tx.session.query(HumanTask).filter_by(case_id=case.id, state="open").all()
            found = {(r.spiff_task_id, r.task_key, r.name, r.stage, r.form_key) for r in rows}
            assert found == expected, f"case {case.number} ({case.status}): inbox {found} != engine {expected}"
            assert len(rows) == len(found), f"case {case.number} has an open task twice"
            closed = tx.session.query(HumanTask).filter(HumanTask.case_id == case.id,
                                                        HumanTask.state != "open").all()
            assert all(r.closed_at is not None for r in closed)
    return len(all_cases)


@pytest.mark.parametrize("seed", [7, 2026])
def test_after_a_random_run_of_starts_completions_timers_and_migrations_the_inbox_equals_the_workflow_state(
        ctx, frozen_clock, seed: int) -> None:
    rng = random.Random(seed)
    processes.deploy_process(ctx, {"review_loop.bpmn": REVIEW}, DESIGNER)
    processes.deploy_process(ctx, fixture_files("timers.bpmn"), DESIGNER)
    migrated_to_two = False
    for step in range(70):
        roll = rng.random()
        if roll < 0.2:
            owner = rng.choice((ANNA, BERTIL))
            if rng.random() < 0.6:
                cases.start_case(ctx, "review_loop", {"title": f"Fall {step}"}, owner)
            else:
                start = (clock.now() + timedelta(days=rng.randint(0, 4))).date().isoformat()
                cases.start_case(ctx, "timers", {"start_date": start}, owner)
        elif roll < 0.75:
            _complete_one(ctx, rng)
        elif roll < 0.8:
            clock.advance(timedelta(days=rng.randint(1, 8), hours=rng.randint(0, 23)))
            timers.fire_due_timers(ctx)
        elif migrated_to_two:
            with ctx.uow.read() as tx:
                on_one = [c.number for c in tx.session.query(Case).filter_by(process_key="review_loop",
                                                                              status="running")
                          if c.process_version.version == 1]
            if on_one:
                with contextlib.suppress(Conflict, InvalidInput):  # refused: left as it was
                    versions.migrate_case(ctx, rng.choice(on_one), ADMIN)
        if step == 25:  # a new version while cases of the first are open
            processes.deploy_process(ctx, {"review_loop.bpmn": REVIEW_RENAMED}, DESIGNER)
            migrated_to_two = True
        if step % 20 == 19:
            _reconcile(ctx)
    _reconcile(ctx)
    for _ in range(3):  # decisions left lying are escalated: their timers cancel the open task
        clock.advance(timedelta(days=8))
        timers.fire_due_timers(ctx)
    assert _reconcile(ctx) >= 5
    with ctx.uow.read() as tx:  # the run did reach every kind of step it is about
        kinds = {k for (k,) in tx.session.execute(text("SELECT DISTINCT kind FROM case_event"))}
        cancelled = tx.session.query(HumanTask).filter_by(state="cancelled").count()
    assert cancelled > 0
    assert {"case_started", "task_completed", "task_opened", "timer_fired", "task_cancelled",
            "case_migrated"} <= kinds

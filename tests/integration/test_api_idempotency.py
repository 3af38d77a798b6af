"""Idempotency-Key under real concurrency: threads racing with the same key, on SQLite and PostgreSQL.

And the promise behind it: the key is recorded in the use case's own transaction, so a
failure after the case was written leaves neither the case nor the key.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import func, select

from iphs_flow.services import cases
from iphs_flow.services.idempotency import IdempotentRequest, fingerprint
from iphs_flow.store.tables import Case, CaseEvent, IdempotencyKey
from tests.integration.api_world import Browser, actor, build_api_world, case_at_need

RACERS = 6


@pytest.fixture
def world(db_url, tmp_path):
    ctx, app = build_api_world(db_url, tmp_path / "files")
    yield ctx, app
    ctx.close()


def _count(ctx, model, **where) -> int:
    with ctx.uow.read() as tx:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(tx.session.scalar(query))


def _race(browsers, send):
    """Send from every browser at the same moment; return the responses."""
    barrier = threading.Barrier(len(browsers))
    results: list = [None] * len(browsers)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = send(browsers[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_concurrent_starts_with_one_key_start_exactly_one_case(world) -> None:
    ctx, app = world
    browsers = [Browser(app, "anna") for _ in range(RACERS)]
    key = str(uuid.uuid4())
    title = f"Samtidigt {key[:8]}"
    responses = _race(browsers, lambda b: b.post("/api/v1/cases", {"process": "gate_decision", "title": title},
                                                 headers={"Idempotency-Key": key}))
    assert _count(ctx, Case, title=title) == 1
    assert _count(ctx, IdempotencyKey, key=key) == 1
    winners = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r.headers]
    assert len(winners) == 1
    for response in responses:
        assert response.status_code in (201, 409), response.get_data(as_text=True)
        if response.status_code == 201:
            assert response.data == winners[0].data
        else:
            assert response.mimetype == "application/problem+json"


def test_concurrent_completions_with_one_key_complete_once_and_all_get_the_same_answer(world) -> None:
    ctx, app = world
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    browsers = [Browser(app, "anna") for _ in range(RACERS)]
    key = str(uuid.uuid4())
    responses = _race(browsers, lambda b: b.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}},
                                                 headers={"Idempotency-Key": key}))
    assert _count(ctx, CaseEvent, case_id=case.id, kind="task_completed") == 1
    fresh = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    for response in responses:
        assert response.status_code in (200, 409), response.get_data(as_text=True)
        if response.status_code == 200:
            assert response.data == fresh[0].data


def test_concurrent_completions_without_a_key_give_one_200_and_409s(world) -> None:
    ctx, app = world
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    browsers = [Browser(app, "anna") for _ in range(RACERS)]
    responses = _race(browsers, lambda b: b.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}))
    assert sorted(r.status_code for r in responses) == [200] + [409] * (RACERS - 1)
    assert _count(ctx, CaseEvent, case_id=case.id, kind="task_completed") == 1


def test_a_failure_after_the_case_was_written_leaves_neither_case_nor_key(world) -> None:
    ctx, app = world
    key = str(uuid.uuid4())
    title = f"Krasch {key[:8]}"

    def crash(_view):
        raise RuntimeError("the process died before the commit")

    request = IdempotentRequest("anna", key, fingerprint("POST", "/api/v1/cases", b"{}"), "POST", "/api/v1/cases",
                                crash)
    with pytest.raises(RuntimeError):
        cases.start_case(ctx, "gate_decision", {}, actor(ctx, "anna"), title=title, idempotency=request)
    assert _count(ctx, Case, title=title) == 0 and _count(ctx, IdempotencyKey, key=key) == 0
    stored = IdempotentRequest("anna", key, request.fingerprint, "POST", "/api/v1/cases", lambda v: (201, str(v.id)))
    view = cases.start_case(ctx, "gate_decision", {}, actor(ctx, "anna"), title=title, idempotency=stored)
    with ctx.uow.read() as tx:
        row = tx.idempotency.get("anna", key)
        assert (row.status, row.body) == (201, str(view.id))
    assert _count(ctx, Case, title=title) == 1


def test_the_scheduler_purges_expired_keys_at_most_once_an_hour(world, frozen_clock) -> None:
    from datetime import timedelta

    from iphs_flow.engine import clock
    from iphs_flow.scheduler import Scheduler

    ctx, app = world
    anna = Browser(app, "anna")
    for _ in range(2):
        assert anna.post("/api/v1/cases", {"process": "gate_decision"},
                         headers={"Idempotency-Key": str(uuid.uuid4())}).status_code == 201
    scheduler = Scheduler(ctx)
    assert scheduler.housekeeping() == 0  # nothing has expired yet
    clock.advance(timedelta(hours=24, seconds=1))
    assert scheduler.housekeeping() == 0  # the next purge is an hour away
    assert Scheduler(ctx).housekeeping() == 2
    assert _count(ctx, IdempotencyKey) == 0

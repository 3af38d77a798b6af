"""Two people completing the same task at once: exactly one wins, the other gets a conflict.

And what changes while a completion's step runs (a claim, another save of the case) is not
overwritten: the completion is refused or computed again.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select

from iphs_flow.services import assignment, case_admin, cases, processes
from iphs_flow.services.errors import Conflict, Forbidden
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import Case, CaseEvent, HumanTask
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD, fixture_files, make_context

RACERS = 8


def _race(ctx, task_id: int) -> list[str]:
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def racer(n: int) -> None:
        barrier.wait()
        try:
            cases.complete_task(ctx, task_id, {"text": f"racer {n}"}, ANNA)
            outcome = "ok"
        except Conflict:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=racer, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _assert_one_completion(ctx, case_id: int, task_id: int) -> None:
    with ctx.uow.read() as tx:
        completions = tx.session.scalar(select(func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case_id, CaseEvent.kind == "task_completed"))
        open_reviews = tx.session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.case_id == case_id, HumanTask.task_key == "review", HumanTask.state == "open"))
        closed_state = tx.session.get(HumanTask, task_id).state
        case = tx.session.get(Case, case_id)
        status, incident = case.status, case.incident
    assert completions == 1
    assert open_reviews == 1, f"case is {status}: {incident}"
    assert closed_state == "completed"


def test_concurrent_completions_in_threads_let_exactly_one_win(ctx) -> None:
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    for _ in range(3):
        view = cases.start_case(ctx, "review_loop", {}, ANNA)
        task_id = view.open_tasks[0].id
        outcomes = _race(ctx, task_id)
        assert sorted(outcomes) == ["conflict"] * (RACERS - 1) + ["ok"]
        _assert_one_completion(ctx, view.id, task_id)


def _complete_in_process(url: str, task_id: int, start, results) -> None:
    ctx = make_context(url)
    start.wait()
    try:
        cases.complete_task(ctx, task_id, {"text": "from a process"}, ANNA)
        results.put("ok")
    except Conflict:
        results.put("conflict")
    finally:
        ctx.close()


@pytest.mark.postgres
def test_concurrent_completions_from_separate_processes_on_postgres(postgres_url) -> None:
    ctx = make_context(postgres_url)
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    task_id = view.open_tasks[0].id
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=_complete_in_process, args=(postgres_url, task_id, start, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    outcomes = sorted(results.get(timeout=5) for _ in workers)
    assert outcomes == ["conflict", "conflict", "conflict", "ok"]
    _assert_one_completion(ctx, view.id, task_id)
    ctx.close()


LARS = Actor("lars", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))


def _review_task(ctx) -> tuple[int, int]:
    """A case of the review loop waiting for its review (a task of the innovation leads' group)."""
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "utkast"}, ANNA)
    return view.id, view.open_tasks[0].id


def _while_the_step_runs(monkeypatch, ctx, meanwhile) -> list[int]:
    """Run `meanwhile()` once, after the completion read the task and before it writes the step."""
    original, calls = ctx.engine.complete, []

    def complete(*args, **kwargs):
        if not calls:
            meanwhile()
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ctx.engine, "complete", complete)
    return calls


def test_a_task_claimed_by_someone_else_while_its_step_runs_is_not_completed_by_the_first(ctx, monkeypatch) -> None:
    case_id, task_id = _review_task(ctx)
    _while_the_step_runs(monkeypatch, ctx, lambda: assignment.claim_task(ctx, task_id, LARS))
    with pytest.raises(Forbidden):
        cases.complete_task(ctx, task_id, {"approved": True}, LEAD)
    with ctx.uow.read() as tx:
        row = tx.session.get(HumanTask, task_id)
        assert (row.state, row.assignee) == ("open", "lars")
        kinds = list(tx.session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)
                                        .order_by(CaseEvent.id)))
        assert kinds.count("task_completed") == 1  # the draft's only
        assert tx.session.get(Case, case_id).status == "running"


def test_a_case_saved_by_someone_else_while_its_step_runs_is_stepped_again_on_what_they_saved(ctx, monkeypatch) -> None:
    case_id, task_id = _review_task(ctx)

    def suspend_and_resume() -> None:
        case_admin.suspend_case(ctx, case_id, ADMIN, "en paus")
        case_admin.resume_case(ctx, case_id, ADMIN)

    calls = _while_the_step_runs(monkeypatch, ctx, suspend_and_resume)
    view = cases.complete_task(ctx, task_id, {"approved": True}, LEAD)
    assert len(calls) == 2  # the first step was computed on a case version that no longer held
    assert view.status == "completed"
    with ctx.uow.read() as tx:
        kinds = list(tx.session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)
                                        .order_by(CaseEvent.id)))
        assert kinds.count("task_completed") == 2 and kinds.count("case_closed") == 1
        assert tx.session.get(HumanTask, task_id).state == "completed"

"""Two people completing the same task at once: exactly one wins, the other gets a conflict."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select

from iphs_flow.services import cases, processes
from iphs_flow.services.errors import Conflict
from iphs_flow.store.tables import Case, CaseEvent, HumanTask
from tests.conftest import ANNA, DESIGNER, fixture_files, make_context

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

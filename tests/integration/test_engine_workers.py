"""Untrusted model code runs in worker processes with hard limits on CPU, memory and wall clock."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from iphs_flow.engine import workers
from iphs_flow.services import cases, processes
from tests.bpmn_builder import script_process
from tests.conftest import ADMIN, ANNA, DESIGNER, make_context

# Generous for a loaded test machine, small enough to keep the tests short.
LIMITS = {"engine_cpu_seconds": 1, "engine_memory_mb": 512, "engine_wall_seconds": 15.0, "engine_workers": 2}

RUNAWAYS = {
    "catches its own timeout and spins": "while True:\n    try:\n        while True:\n            pass\n"
                                         "    except Exception:\n        pass",
    "one C call that holds the GIL": "x = sum([[1]] * 10**5, [])\ny = sum([[1]] * 10**6, [])",
    "a huge modular power": "x = pow(3, 1 << 5000, 10**4000 + 7)\nx = pow(x, 1 << 30000, 10**4000 + 9)",
    "a huge padded string": "x = '%(a)400000000s' % {'a': 1}",
    "a huge f-string width": "w = 400000000\nx = f'{1:{w}}'",
    "raises SystemExit": "raise SystemExit",
}


@pytest.fixture
def limited(sqlite_url):
    ctx = make_context(sqlite_url, **LIMITS)
    yield ctx
    ctx.close()


def _case_at_script(ctx, code: str, key: str):
    processes.deploy_process(ctx, {f"{key}.bpmn": script_process(code, key=key)}, DESIGNER)
    view = cases.start_case(ctx, key, {}, ANNA)
    [task] = view.open_tasks
    return view, task


@pytest.mark.parametrize("code", list(RUNAWAYS.values()), ids=list(RUNAWAYS))
def test_a_runaway_script_becomes_an_incident_naming_the_element_and_the_case_keeps_its_state(
        limited, code) -> None:
    view, task = _case_at_script(limited, code, "runaway")
    with limited.uow.read() as tx:
        state_before = tx.cases.get(view.id).state
    started = time.monotonic()
    after = cases.complete_task(limited, task.id, {"divisor": 1}, ANNA)
    assert time.monotonic() - started < LIMITS["engine_wall_seconds"] + 5
    assert after.status == "incident"
    assert "Kör skript" in after.incident
    with limited.uow.read() as tx:
        case = tx.cases.get(view.id)
        row = tx.tasks.get(task.id)
        kinds = [e.kind for e in tx.events.for_case(view.id)]
        if "the step was stopped" in after.incident:  # killed over a limit: the step did not happen at all
            assert case.state == state_before
            assert row.state == "open"
            assert "task_completed" not in kinds
    assert kinds[-1] == "incident"
    # The engine still works for everyone else.
    other = cases.start_case(limited, "runaway", {}, ANNA)
    assert other.status == "running"


def test_a_step_over_the_wall_clock_limit_is_killed_and_says_so(sqlite_url) -> None:
    ctx = make_context(sqlite_url, engine_cpu_seconds=60, engine_memory_mb=512, engine_wall_seconds=1.5,
                       engine_workers=1)
    try:
        _view, task = _case_at_script(ctx, "while True:\n    try:\n        while True:\n            pass\n"
                                           "    except Exception:\n        pass", "spin")
        after = cases.complete_task(ctx, task.id, {"divisor": 1}, ANNA)
        assert after.status == "incident"
        assert "'Kör skript' (run_script)" in after.incident
        assert "wall-clock limit of 1.5 s" in after.incident
        assert ctx.engine.replaced >= 1
        # The killed worker was replaced: the next step runs.
        assert cases.start_case(ctx, "spin", {}, ANNA).status == "running"
        # The completion never happened: a retry puts the case back at the same open task.
        retried = cases.retry_incident(ctx, after.number, ADMIN)
        assert retried.status == "running"
        assert [t.id for t in retried.open_tasks] == [task.id]
    finally:
        ctx.close()


def test_while_a_runaway_step_runs_another_case_is_completed_within_two_seconds(limited) -> None:
    _bad, bad_task = _case_at_script(limited, RUNAWAYS["catches its own timeout and spins"], "runaway")
    processes.deploy_process(limited, {"fine.bpmn": script_process("x = 1", key="fine")}, DESIGNER)
    good = cases.start_case(limited, "fine", {}, ANNA)
    outcome = {}
    runaway = threading.Thread(target=lambda: outcome.update(
        bad=cases.complete_task(limited, bad_task.id, {"divisor": 1}, ANNA)))
    runaway.start()
    time.sleep(0.5)  # the runaway is in its worker now
    started = time.monotonic()
    done = cases.complete_task(limited, good.open_tasks[0].id, {"divisor": 1}, ANNA)
    elapsed = time.monotonic() - started
    runaway.join(60)
    assert done.status == "running" and [t.task_key for t in done.open_tasks] == ["after"]
    assert elapsed < 2.0, f"the second completion took {elapsed:.2f} s"
    assert outcome["bad"].status == "incident"


def test_a_worker_killed_from_outside_is_replaced_and_the_next_step_runs(limited) -> None:
    processes.deploy_process(limited, {"fine.bpmn": script_process("x = 1", key="fine")}, DESIGNER)
    cases.start_case(limited, "fine", {}, ANNA)
    pool = limited.engine
    pids = [w.process.pid for w in list(pool._idle.queue)]
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert cases.start_case(limited, "fine", {}, ANNA).status == "running"


def test_workers_keep_parsed_specs_and_get_the_files_only_once(limited) -> None:
    files = {"fine.bpmn": script_process("x = 1", key="fine")}
    processes.deploy_process(limited, files, DESIGNER)
    view = cases.start_case(limited, "fine", {}, ANNA)
    ref = workers.ModelRef.of("fine", {name: data.decode() for name, data in files.items()})
    # The worker that ran the start has the spec by its content hash: later steps send no files.
    assert any(("fine", ref.digest) in w.known for w in list(limited.engine._idle.queue))
    assert cases.complete_task(limited, view.open_tasks[0].id, {"divisor": 1}, ANNA).status == "running"


def test_deploy_checks_evaluate_timer_expressions_in_a_worker(limited) -> None:
    """The checks (which compile every expression and evaluate constant timers) run in a worker."""
    import os

    from iphs_flow.engine import isolation

    calls = []

    def counting(func, *args):
        calls.append(func.__name__)
        return limited.engine.call(func, *args)

    isolation.install(counting)
    try:
        from tests.bpmn_builder import timer_process
        processes.deploy_process(limited, {"t.bpmn": timer_process('add_days(now(), 1)', key="later")}, DESIGNER)
    finally:
        isolation.install(None)
    assert calls == ["_check_files_here", "_deployables_here"]
    assert limited.engine.call(os.getpid) != os.getpid()  # and the runner is the worker pool

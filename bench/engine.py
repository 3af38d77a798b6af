"""Engine benchmark: task completions through the service layer, and a 1,000-round loop.

    python -m bench.engine [--completions N] [--rounds N] [--skip-postgres]

Prints, for SQLite and PostgreSQL: completions per second through the service layer
(load + run + save + inbox index + history in one transaction), p50/p95 per completion,
and per-step time and stored state size at loop rounds 10, 100 and 1,000. Also shows
what SpiffWorkflow does without our history pruning, for contrast. Compare ratios
within one run: the machines are noisy.

The cost of isolation (engine/workers.py): p50/p95 per completion through the services
on SQLite with the steps in worker processes (the default) and in-process (only here,
for the comparison), measured alternately in the same run; and the time to replace a
killed worker (from the kill until a completion that needed the new worker returns).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.engine import runtime
from iphs_flow.engine.models import parse_deployment
from iphs_flow.services import cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.store.migrate import upgrade
from iphs_flow.store.tables import Case

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "fixtures" / "bpmn" / "review_loop.bpmn"
FORMS = ROOT / "tests" / "fixtures" / "forms"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
OWNER = Actor("anna", frozenset({"idea_owner"}))
LEAD = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
DESIGNER = Actor("dora", frozenset({"process_designer"}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@contextmanager
def sqlite_database():
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextmanager
def postgres_database():
    name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def completion_data(task_key: str, n: int) -> dict:
    return {"text": f"utkast {n}"} if task_key == "draft" else {"approved": False}


def throughput(ctx, completions: int) -> dict:
    """Many cases, each completion its own transaction, as people would do it."""
    views = [cases.start_case(ctx, "review_loop", {"title": f"Fall {i}"}, OWNER) for i in range(50)]
    times = []
    started = time.perf_counter()
    for n in range(completions):
        index = n % len(views)
        task = views[index].open_tasks[0]
        actor = OWNER if task.task_key == "draft" else LEAD
        t0 = time.perf_counter()
        views[index] = cases.complete_task(ctx, task.id, completion_data(task.task_key, n), actor)
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    return {"per_second": completions / elapsed, "p50": pct(times, 0.5) * 1000, "p95": pct(times, 0.95) * 1000}


def loop(ctx, rounds: int, marks: tuple[int, ...]) -> dict[int, tuple[float, int]]:
    """One case around the revise loop; step time (mean of a 5-round window) and state size."""
    view = cases.start_case(ctx, "review_loop", {"title": "Loop"}, OWNER)
    window: dict[int, list[float]] = {m: [] for m in marks}
    found: dict[int, tuple[float, int]] = {}
    for round_no in range(1, rounds + 1):
        for key, actor in (("draft", OWNER), ("review", LEAD)):
            t0 = time.perf_counter()
            view = cases.complete_task(ctx, view.open_tasks[0].id, completion_data(key, round_no), actor)
            elapsed = time.perf_counter() - t0
            for mark in marks:
                if mark - 2 <= round_no <= mark + 2:
                    window[mark].append(elapsed)
        if round_no in marks:
            with ctx.uow.read() as tx:
                size = len(tx.session.get(Case, view.id).state)
            found[round_no] = (0.0, size)
    return {m: (statistics.mean(window[m]) * 1000 if window[m] else float("nan"), found[m][1]) for m in marks}


def engine_only(rounds: int, marks: tuple[int, ...], prune: bool) -> tuple[dict[int, tuple[float, int]], str]:
    """The runtime without a database, with or without our history pruning."""
    model = parse_deployment({MODEL.name: MODEL.read_bytes()})["review_loop"]
    original = runtime._prune
    if not prune:
        runtime._prune = lambda workflow: 0
    window: dict[int, list[float]] = {m: [] for m in marks}
    sizes: dict[int, int] = {}
    broken = ""
    try:
        result = runtime.start(model, {})
        for round_no in range(1, rounds + 1):
            t0 = time.perf_counter()
            for data in ({"text": "x"}, {"approved": False}):
                if not result.open_tasks:
                    broken = (f"broke at round {round_no}: status '{result.status}', no open task "
                              f"({(result.incident or '')[:80]})")
                    break
                result = runtime.complete(model, result.state, result.open_tasks[0].id, data)
            if broken:
                break
            elapsed = (time.perf_counter() - t0) / 2
            for mark in marks:
                if mark - 2 <= round_no <= mark + 2:
                    window[mark].append(elapsed)
            if round_no in marks:
                sizes[round_no] = len(result.state_json())
    finally:
        runtime._prune = original
    return {m: (statistics.mean(window[m]) * 1000, sizes[m]) for m in marks if m in sizes}, broken


def isolation(completions: int) -> None:
    """Workers vs in-process on SQLite, alternating batches so both see the same machine load."""
    with sqlite_database() as url_workers, sqlite_database() as url_inline:
        contexts = {}
        for label, url, inline in (("workers", url_workers, False), ("in-process", url_inline, True)):
            ctx = build(Settings(database_url=url, forms_dir=FORMS, engine_in_process=inline))
            upgrade(ctx.uow.engine)
            processes.deploy_process(ctx, {MODEL.name: MODEL.read_bytes()}, DESIGNER)
            cases.start_case(ctx, "review_loop", {}, OWNER)  # warm caches and workers
            contexts[label] = (ctx, [cases.start_case(ctx, "review_loop", {"title": f"Fall {i}"}, OWNER)
                                     for i in range(20)])
        times: dict[str, list[float]] = {label: [] for label in contexts}
        batch = 50
        for n in range(0, completions, batch):
            for label, (ctx, views) in contexts.items():
                for m in range(n, min(n + batch, completions)):
                    index = m % len(views)
                    task = views[index].open_tasks[0]
                    actor = OWNER if task.task_key == "draft" else LEAD
                    t0 = time.perf_counter()
                    views[index] = cases.complete_task(ctx, task.id, completion_data(task.task_key, m), actor)
                    times[label].append(time.perf_counter() - t0)
        p50 = {label: pct(values, 0.5) * 1000 for label, values in times.items()}
        for label, values in times.items():
            print(f"  SQLite {label:<11} {len(values)} completions: p50 {p50[label]:.2f} ms, "
                  f"p95 {pct(values, 0.95) * 1000:.2f} ms")
        print(f"  workers / in-process at p50: {p50['workers'] / p50['in-process']:.2f}x")

        ctx, views = contexts["workers"]
        pool = ctx.engine
        replace_times = []
        for round_no in range(5):
            workers_now = list(pool._idle.queue)
            for worker in workers_now:
                os.kill(worker.process.pid, signal.SIGKILL)
            for worker in workers_now:
                worker.process.join(5)
            index = round_no % len(views)
            task = views[index].open_tasks[0]
            actor = OWNER if task.task_key == "draft" else LEAD
            t0 = time.perf_counter()
            views[index] = cases.complete_task(ctx, task.id, completion_data(task.task_key, round_no), actor)
            replace_times.append(time.perf_counter() - t0)
        print(f"  replacing killed workers (kill every idle worker -> the next completion done): "
              f"median {statistics.median(replace_times) * 1000:.0f} ms, max {max(replace_times) * 1000:.0f} ms")
        for ctx, _views in contexts.values():
            ctx.close()


def run_backend(label: str, url: str, completions: int, rounds: int) -> None:
    ctx = build(Settings(database_url=url, forms_dir=FORMS))
    upgrade(ctx.uow.engine)
    processes.deploy_process(ctx, {MODEL.name: MODEL.read_bytes()}, DESIGNER)
    cases.start_case(ctx, "review_loop", {}, OWNER)  # warm caches
    result = throughput(ctx, completions)
    print(f"{label:<10} {completions} completions: {result['per_second']:.0f}/s, "
          f"p50 {result['p50']:.2f} ms, p95 {result['p95']:.2f} ms")
    marks = tuple(m for m in (10, 100, 1000) if m <= rounds)
    for mark, (ms, size) in loop(ctx, rounds, marks).items():
        print(f"{label:<10} loop round {mark:>5}: {ms:.2f} ms per completion, stored state {size} bytes")
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print("Engine only (no database), mean per completion over rounds mark±2:")
    for label, prune in (("with pruning", True), ("SpiffWorkflow alone", False)):
        figures, broken = engine_only(args.rounds, (10, 100, 1000), prune=prune)
        for mark, (ms, size) in figures.items():
            print(f"  {label:<20} round {mark:>5}: {ms:.2f} ms, state {size} bytes")
        if broken:
            print(f"  {label:<20} {broken}")

    print("Cost of isolation (engine steps in worker processes):")
    isolation(min(args.completions, 1000))

    with sqlite_database() as url:
        run_backend("SQLite", url, args.completions, args.rounds)
    if not args.skip_postgres:
        with postgres_database() as url:
            run_backend("PostgreSQL", url, args.completions, args.rounds)


if __name__ == "__main__":
    main()

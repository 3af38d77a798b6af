"""Engine benchmark: task completions through the service layer, and a 1,000-round loop.

    python -m bench.engine [--completions N] [--rounds N] [--skip-postgres]
    python -m bench.engine --baseline PATH [--completions N] [--skip-postgres]

Prints, for SQLite and PostgreSQL: completions per second through the service layer
(load + run + save + inbox index + history in one transaction), p50/p95 per completion,
and per-step time and stored state size at loop rounds 10, 100 and 1,000. Also shows
what SpiffWorkflow does without our history pruning, for contrast. Compare ratios
within one run: the machines are noisy.

The cost of isolation (engine/workers.py): p50/p95 per completion through the services
on SQLite with the steps in worker processes (the default) and in-process (only here,
for the comparison), measured alternately in the same run; and the time to replace a
killed worker (from the kill until a completion that needed the new worker returns).

With `--baseline PATH` (a git worktree of any commit) only the completions through the
services are measured, for this checkout and that one, each in a process of its own running
its own code, on SQLite (workers and in-process) and PostgreSQL (workers), interleaved in
slices of 50 completions so both see the same machine load; printed with the ratio, the
load average, and the SQL statements and commits per completion.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from bench.databases import postgres_database, sqlite_database
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
OWNER = Actor("anna", frozenset({"idea_owner"}))
LEAD = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
DESIGNER = Actor("dora", frozenset({"process_designer"}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


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


# Runs inside a checkout (its own code, whatever commit): one context per setup, then completions
# on command ("<setup> <n>" on stdin), answering with their times and statement counts as JSON.
CHILD = r"""
import json, sys, time
from pathlib import Path
from sqlalchemy import event
from bench.databases import postgres_database, sqlite_database
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.services import cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.store.migrate import upgrade
model, forms, setups = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
owner = Actor("anna", frozenset({"idea_owner"}))
lead = Actor("lena", frozenset({"idea_owner", "innovation_lead"}), frozenset({"innovation-leads"}))
designer = Actor("dora", frozenset({"process_designer"}))
worlds, counts = {}, {"statements": 0, "commits": 0}
def count(key):
    def listener(*_args):
        counts[key] += 1
    return listener
for label, (url, inline) in setups.items():
    ctx = build(Settings(database_url=url, forms_dir=forms, engine_in_process=inline))
    upgrade(ctx.uow.engine)
    processes.deploy_process(ctx, {"review_loop.bpmn": open(model, "rb").read()}, designer)
    cases.start_case(ctx, "review_loop", {}, owner)
    event.listen(ctx.uow.engine, "before_cursor_execute", count("statements"))
    event.listen(ctx.uow.engine, "commit", count("commits"))
    worlds[label] = (ctx, [cases.start_case(ctx, "review_loop", {"title": f"Fall {i}"}, owner) for i in range(20)], [0])
print(json.dumps("ready"), flush=True)
for line in sys.stdin:
    label, n = line.split()
    ctx, views, done = worlds[label]
    times, counts["statements"], counts["commits"] = [], 0, 0
    cpu = time.process_time()
    for _ in range(int(n)):
        m = done[0]
        done[0] += 1
        task = views[m % len(views)].open_tasks[0]
        draft = task.task_key == "draft"
        data = {"text": f"utkast {m}"} if draft else {"approved": False}
        t0 = time.perf_counter()
        views[m % len(views)] = cases.complete_task(ctx, task.id, data, owner if draft else lead)
        times.append(time.perf_counter() - t0)
    print(json.dumps({"times": times, "cpu": time.process_time() - cpu, **counts}), flush=True)
for ctx, _views, _done in worlds.values():
    ctx.close()
"""


def compare(baseline: Path, completions: int, postgres: bool) -> None:
    """This checkout against `baseline`, interleaved (see the module docstring)."""
    trees = {"this": ROOT, "baseline": baseline.resolve()}
    with ExitStack() as stack:
        setups: dict[str, dict[str, tuple[str, bool]]] = {label: {} for label in trees}
        for label in trees:
            setups[label]["SQLite workers"] = (stack.enter_context(sqlite_database()), False)
            setups[label]["SQLite in-process"] = (stack.enter_context(sqlite_database()), True)
            if postgres:
                setups[label]["PostgreSQL workers"] = (stack.enter_context(postgres_database()), False)
        children = {}
        for label, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            child = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(MODEL), str(FORMS),
                 json.dumps({k.replace(" ", "_"): v for k, v in setups[label].items()})],
                cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            stack.callback(child.kill)
            if json.loads(child.stdout.readline()) != "ready":
                raise SystemExit(f"{label}: the checkout did not start")
            children[label] = child
        results: dict[tuple[str, str], dict] = {}
        loads = []
        for setup in setups["this"]:
            key = setup.replace(" ", "_")
            for n in range(max(1, completions // 50)):
                loads.append(os.getloadavg()[0])
                for label, child in sorted(children.items(), reverse=bool(n % 2)):  # each goes first in turn
                    child.stdin.write(f"{key} 50\n")
                    child.stdin.flush()
                    answer = json.loads(child.stdout.readline())
                    found = results.setdefault((setup, label),
                                               {"times": [], "cpu": 0.0, "statements": 0, "commits": 0, "n": 0})
                    found["times"] += answer["times"]
                    found["cpu"] += answer["cpu"]
                    found["statements"] += answer["statements"]
                    found["commits"] += answer["commits"]
                    found["n"] += len(answer["times"])
        for child in children.values():
            child.stdin.close()
            child.wait(60)
    print(f"Completions through the services, interleaved in slices of 50 (load average "
          f"{min(loads):.2f}-{max(loads):.2f} during the run):")
    for label, tree in trees.items():
        commit = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True,
                                text=True).stdout.strip()
        print(f"  {label}: {tree} ({commit[:90]})")
    print(f"  {'':<20}{'':<10}{'p50':>9}{'p95':>9}{'CPU':>9}{'stmts':>7}{'commits':>9}")
    for setup in setups["this"]:
        p50, cpu = {}, {}
        for label in trees:
            found = results[(setup, label)]
            p50[label] = pct(found["times"], 0.5) * 1000
            cpu[label] = found["cpu"] / found["n"] * 1000
            print(f"  {setup:<20}{label:<10}{p50[label]:>7.2f}ms{pct(found['times'], 0.95) * 1000:>7.2f}ms"
                  f"{cpu[label]:>7.2f}ms{found['statements'] / found['n']:>7.1f}{found['commits'] / found['n']:>9.2f}")
        print(f"  {setup:<20}baseline / this: {p50['baseline'] / p50['this']:.2f}x at p50, "
              f"{cpu['baseline'] / cpu['this']:.2f}x in CPU")
    print("  CPU: the service process's own CPU time per completion (the engine workers' is not in it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--baseline", type=Path, default=None, help="a second checkout (git worktree) to compare")
    args = parser.parse_args()
    if args.baseline is not None:
        compare(args.baseline, args.completions, not args.skip_postgres)
        return

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

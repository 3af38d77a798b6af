"""Research export benchmark: 20,000 cases and 200,000 history events, SQLite and PostgreSQL.

    python -m bench.research [--cases N] [--events-per-case N] [--skip-postgres] [--skip-sqlite] [--no-memory]

Seeds a throwaway database per back end with direct SQL inserts: the shipped processes
are deployed, then N cases (a tenth of them of the improvement process), each with 10
history events, 5 tasks (claimed, completed, stage by stage), 3 stage records (need,
concept, evaluation, with free text holding e-mail addresses, phone numbers and
personnummer to scrub) and 2 gate decisions; 500 people with accounts.

Prints per back end the seconds of a full export (target: <= 60 s for 20,000 cases), and
the peak of Python memory allocated while exporting (tracemalloc) for the improvement
cases alone (a tenth) and for all cases: the two peaks are about equal because rows are
streamed in batches and written as they come (memory flat). The ru_maxrss of the
process is printed too (it only grows, so it is the high-water mark of the whole run).
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
import tracemalloc
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.databases import postgres_database, sqlite_database
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.services import processes
from iphs_flow.services import research_export as research
from iphs_flow.services.permissions import Actor
from iphs_flow.store.migrate import upgrade
from iphs_flow.store.tables import Case, CaseEvent, GateDecision, HumanTask, StageRecord, UserAccount

ROOT = Path(__file__).resolve().parent.parent
DESIGNER = Actor("dora", frozenset({"process_designer"}))
RESEARCHER = Actor("rut", frozenset({"researcher"}))
PEOPLE = 500
STAGE_TASKS = [("need", "need", 0), ("assign_lead", "assign_lead", 0), ("G1_decide", "gate_g1", 0),
               ("concept", "concept", 2), ("evaluation", "evaluation", 4)]
EVENT_KINDS = ("case_started", "task_opened", "task_claimed", "task_completed", "notification")
WORDS = ("behov", "skola", "trygghet", "belysning", "äldreomsorg", "digital", "tjänst", "pilot", "invånare",
         "förvaltning", "samverkan", "effekt", "kostnad", "nytta", "miljö", "klimat", "park", "trafik")


def prose(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    extra = rng.random()
    if extra < 0.2:
        words.insert(rng.randrange(len(words)), f"user{rng.randrange(PEOPLE)}@stockholm.se")
    elif extra < 0.4:
        words.insert(rng.randrange(len(words)), f"070-{rng.randrange(100, 999)} {rng.randrange(10, 99)} 67")
    elif extra < 0.5:
        words.insert(rng.randrange(len(words)), "811218-9876")
    return " ".join(words).capitalize() + "."


def seed(ctx: Any, n_cases: int, events_per_case: int, rng: random.Random) -> None:
    engine = ctx.uow.engine
    with ctx.uow.read() as tx:
        versions = {key: tx.processes.latest(key).id for key in ("innovation", "improvement")}
    base = datetime(2024, 1, 1, 7, 0, tzinfo=timezone.utc)
    batch = 1000
    with engine.begin() as conn:
        conn.execute(insert(UserAccount), [
            {"username": f"user{i}", "display_name": f"Förnamn{i} Efternamn{i}", "email": f"user{i}@stockholm.se",
             "language": "sv", "is_active": True, "source": "local", "notify_mode": "immediate", "created_at": base}
            for i in range(PEOPLE)])
        event_id = task_id = record_id = decision_id = 1
        for first in range(0, n_cases, batch):
            cases, events, tasks, records, decisions = [], [], [], [], []
            for i in range(first, min(n_cases, first + batch)):
                case_id = i + 1
                key = "improvement" if i % 10 == 0 else "innovation"
                started = base + timedelta(hours=rng.randrange(0, 2 * 365 * 24))
                closed = started + timedelta(days=rng.randrange(30, 400)) if rng.random() < 0.6 else None
                owner, lead = f"user{rng.randrange(PEOPLE)}", f"user{rng.randrange(PEOPLE)}"
                cases.append({"id": case_id, "number": f"BENCH {case_id}", "title": prose(rng, 4)[:300],
                              "process_version_id": versions[key], "process_key": key, "stage": 4,
                              "status": "completed" if closed else "running", "owner": owner, "state": "{}",
                              "created_at": started, "updated_at": started, "closed_at": closed, "version": 1})
                moment = started
                for n, (task_key, form, stage) in enumerate(STAGE_TASKS):
                    opened, moment = moment, moment + timedelta(days=rng.randrange(1, 40))
                    spiff_id = str(uuid.UUID(int=rng.getrandbits(128)))
                    tasks.append({"id": task_id, "case_id": case_id, "spiff_task_id": spiff_id,
                                  "task_key": task_key, "name": task_key, "process_id": key, "form_key": form,
                                  "candidate_group": "innovation-leads", "assignee": lead, "stage": stage,
                                  "state": "completed", "created_at": opened, "closed_at": moment, "closed_by": lead})
                    if n in (0, 3, 4):
                        records.append({"id": record_id, "case_id": case_id, "task_id": task_id, "stage": stage,
                                        "task_key": task_key, "task_name": task_key, "form_key": form, "round": 1,
                                        "data": {"need": prose(rng, 30), "chosen_concept": prose(rng, 20),
                                                 "lessons_learned": prose(rng, 25), "need_owner": prose(rng, 3),
                                                 "agenda2030_goals": [rng.randrange(1, 18)]},
                                        "actor": lead, "at": moment})
                        record_id += 1
                    if n in (2, 4):
                        decisions.append({"id": decision_id, "case_id": case_id, "task_id": task_id, "stage": stage,
                                          "gate": task_key, "gate_name": task_key, "form_key": "gate_g1",
                                          "round": 1, "outcome": rng.choice(("approved", "rejected", "more_info")),
                                          "reason": prose(rng, 15), "conditions": [], "data": {},
                                          "decider": lead, "at": moment})
                        decision_id += 1
                    task_id += 1
                for e in range(events_per_case):
                    events.append({"id": event_id, "case_id": case_id, "at": started + timedelta(hours=e),
                                   "actor": owner, "kind": EVENT_KINDS[e % len(EVENT_KINDS)], "task_key": None,
                                   "data": {"task_id": task_id - 5 + e % 5} if e % 5 == 2 else {}})
                    event_id += 1
            for table, rows in ((Case, cases), (HumanTask, tasks), (CaseEvent, events), (StageRecord, records),
                                (GateDecision, decisions)):
                conn.execute(insert(table), rows)
        if engine.dialect.name == "postgresql":
            for table in ("case", "human_task", "case_event", "stage_record", "gate_decision", "user_account"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                  f"(SELECT MAX(id) FROM \"{table}\"))"))
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))


def export(ctx: Any, raw: dict[str, Any], memory: bool) -> tuple[float, float | None, dict[str, int]]:
    flt = research.parse_filter(ctx, raw)
    with tempfile.TemporaryDirectory() as folder:
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        view = research.export_research(ctx, Path(folder) / "pkg", flt, RESEARCHER)
        seconds = time.perf_counter() - started
        peak = None
        if memory:
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
    return seconds, peak, view.row_counts


def run_backend(label: str, url: str, n_cases: int, events_per_case: int, memory: bool) -> None:
    # A generous wall-clock limit for the deploy checks: the bench machine may be busy.
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                         engine_wall_seconds=120))
    try:
        upgrade(ctx.uow.engine)
        processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
        started = time.perf_counter()
        seed(ctx, n_cases, events_per_case, random.Random(18))
        seeded = time.perf_counter() - started
        print(f"\n{label}: {n_cases} cases, {n_cases * events_per_case} events, {n_cases * 5} tasks, "
              f"{n_cases * 3} stage records, {n_cases * 2} gate decisions; seeded in {seeded:.0f} s")
        seconds, _, counts = export(ctx, {}, memory=False)
        print(f"  full export: {seconds:.1f} s (target <= 60 s); rows: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if memory:
            small_s, small_peak, small = export(ctx, {"process_key": "improvement"}, memory=True)
            full_s, full_peak, full = export(ctx, {}, memory=True)
            print(f"  memory (tracemalloc peak while exporting): {small['cases']} cases {small_peak:.1f} MB, "
                  f"{full['cases']} cases {full_peak:.1f} MB")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  process high-water mark (ru_maxrss): {rss:.0f} MB")
    finally:
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--events-per-case", type=int, default=10)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--no-memory", action="store_true", help="skip the (slower) tracemalloc runs")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with sqlite_database() as url:
            run_backend("SQLite", url, args.cases, args.events_per_case, not args.no_memory)
    if not args.skip_postgres:
        with postgres_database() as url:
            run_backend("PostgreSQL", url, args.cases, args.events_per_case, not args.no_memory)


if __name__ == "__main__":
    main()

"""Web benchmark: inbox, case page and form submit with 20,000 cases and 60,000 tasks in PostgreSQL.

    python -m bench.web [--cases N] [--tasks-per-case N] [--requests N] [--submits N]

Seeds a throwaway PostgreSQL database: one real innovation case is started through the
services and its stored state is copied into N cases with bulk inserts (plus their inbox
rows and history), so the pages read real workflow state. Then, through Flask's test
client signed in as real users: GET /inbox (an innovation lead with a full group queue),
GET /cases/<id> (a case with history), and POST /tasks/<id> completing real tasks.
Prints p50/p95 in milliseconds. The machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from iphs_flow.app import create_app
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import tasks as task_queries
from iphs_flow.store.migrate import upgrade
from iphs_flow.store.tables import Case, CaseEvent, HumanTask

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 123"
DESIGNER = Actor("dora", frozenset({"process_designer"}))
NEED = {"title": "Tryggare skolvägar", "need": "Barn känner sig otrygga på väg till skolan.",
        "target_group": "Elever", "need_owner": "Skolchef Eva Ek"}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def seed(ctx, n_cases: int, tasks_per_case: int) -> int:
    """Copy one real case's state into n_cases cases with bulk inserts; returns the template case id."""
    owner = accounts.actor_for(ctx, "anna")
    lead = accounts.actor_for(ctx, "lena")
    view = cases.start_case(ctx, "innovation", {}, owner)
    need = [t for t in view.open_tasks if t.task_key == "need"][0]
    cases.complete_task(ctx, need.id, NEED, owner)
    assign = [t for t in task_queries.list_tasks(ctx, lead, view.number) if t.task_key == "assign_lead"][0]
    cases.complete_task(ctx, assign.id, {"innovation_lead": "lena"}, lead)
    with ctx.uow.read() as tx:
        template = tx.cases.get(view.id)
        state, version_id = template.state, template.process_version_id
    owners = ["anna"] + [f"user{i}" for i in range(200)]
    groups = ["innovation-leads", "unit-managers", "gate-deciders", "department-management"]
    at = now()
    batch = 2000
    engine = ctx.uow.engine
    with engine.begin() as conn:
        next_id = conn.execute(text('SELECT coalesce(max(id), 0) + 1 FROM "case"')).scalar_one()
    for start in range(0, n_cases, batch):
        rows, task_rows, event_rows = [], [], []
        for i in range(start, min(n_cases, start + batch)):
            case_id = next_id + i
            created = at - timedelta(days=random.randint(0, 700))
            rows.append({"id": case_id, "number": f"BENCH {i:06d}", "title": f"Bänkärende {i}",
                         "process_version_id": version_id, "process_key": "innovation", "stage": random.randint(0, 6),
                         "status": "running", "owner": random.choice(owners), "state": state, "incident": None,
                         "next_timer_at": None, "created_at": created, "updated_at": created, "closed_at": None,
                         "version": 1})
            for k in range(tasks_per_case):
                task_rows.append({"case_id": case_id, "spiff_task_id": str(uuid.uuid4()), "task_key": "G1_decide",
                                  "name": f"Uppgift {k}", "process_id": "innovation", "lane": None,
                                  "candidate_group": random.choice(groups), "assignee": None, "form_key": "gate_g1",
                                  "stage": 0, "due_at": created + timedelta(days=random.randint(1, 40)),
                                  "state": "open" if k == 0 else "completed", "created_at": created,
                                  "closed_at": None, "closed_by": None})
            for kind in ("case_started", "task_completed", "step", "step", "task_completed"):
                event_rows.append({"case_id": case_id, "at": created, "actor": "anna", "kind": kind,
                                   "task_key": "need", "task_name": "Beskriv behovet", "data": {}})
        with engine.begin() as conn:
            conn.execute(insert(Case), rows)
            conn.execute(insert(HumanTask), task_rows)
            conn.execute(insert(CaseEvent), event_rows)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('\"case\"', 'id'), "
                              "(SELECT max(id) FROM \"case\"))"))
            conn.execute(text("ANALYZE"))
    return view.id


def sign_in(app, username: str):
    client = app.test_client()
    page = client.get("/login")
    token = _TOKEN.search(page.get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(url: str, n_cases: int, tasks_per_case: int, n_requests: int, n_submits: int) -> None:
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn"))
    upgrade(ctx.uow.engine)
    processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    accounts.add_user(ctx, "anna", "Anna", password=PASSWORD)
    accounts.add_user(ctx, "lena", "Lena", password=PASSWORD, roles={"innovation_lead"}, groups={"innovation-leads"})
    started = time.perf_counter()
    template_id = seed(ctx, n_cases, tasks_per_case)
    print(f"seeded {n_cases} cases and {n_cases * tasks_per_case} tasks in {time.perf_counter() - started:.1f} s")

    app = create_app(context=ctx)
    lena = sign_in(app, "lena")
    anna = sign_in(app, "anna")
    assert lena.get("/inbox").status_code == 200
    inbox = timed(lambda: lena.get("/inbox"), n_requests)
    ids = [template_id] + random.sample(range(template_id + 1, template_id + n_cases), min(n_requests, n_cases - 1))
    pages = iter(ids * 2)
    case_page = timed(lambda: lena.get(f"/cases/{next(pages)}"), n_requests)
    my_cases = timed(lambda: anna.get("/cases"), max(10, n_requests // 5))

    # Form submit: real tasks (assign_lead of fresh cases), completed through POST /tasks/<id>.
    owner = accounts.actor_for(ctx, "anna")
    lead = accounts.actor_for(ctx, "lena")
    todo = []
    for _ in range(n_submits):
        view = cases.start_case(ctx, "innovation", {}, owner)
        need = [t for t in view.open_tasks if t.task_key == "need"][0]
        cases.complete_task(ctx, need.id, NEED, owner)
        todo.append([t for t in task_queries.list_tasks(ctx, lead, view.number) if t.task_key == "assign_lead"][0].id)
    token = _TOKEN.search(lena.get("/inbox").get_data(as_text=True)).group(1)
    tasks = iter(todo)

    def submit() -> None:
        response = lena.post(f"/tasks/{next(tasks)}", data={"csrf_token": token, "_action": "submit",
                                                            "innovation_lead": "lena"})
        assert response.status_code == 302, response.status_code

    submits = timed(submit, n_submits)
    for name, values in (("GET /inbox (lead, full group queue)", inbox), ("GET /cases/<id>", case_page),
                         ("GET /cases (my cases)", my_cases), ("POST /tasks/<id> (form submit)", submits)):
        print(f"{name:40s} n={len(values):4d}  p50 {statistics.median(values):7.1f} ms  p95 {pct(values, .95):7.1f} ms")
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--tasks-per-case", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--submits", type=int, default=50)
    args = parser.parse_args()
    name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run(make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), args.cases,
            args.tasks_per_case, args.requests, args.submits)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

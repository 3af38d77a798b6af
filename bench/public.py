"""Public showcase benchmark: list (with and without filters) and case pages, 2,000 published of 20,000 cases.

    python -m bench.public [--cases N] [--published N] [--requests N] [--db sqlite|postgres|both]

Seeds a throwaway SQLite file and/or PostgreSQL database with direct SQL inserts: N cases
(state left empty: no public read touches it), a publication record for every tenth of
them with one to three Agenda 2030 goals, and a gate decision for half the published ones
(the status words read the last decision). Then, through Flask's test client and without
a session (as the public comes): GET /stadens-innovationer, the same with a goal filter,
with goal+stage+phase, a later page, and GET /stadens-innovationer/<id> of random
published cases. Prints p50/p95 in milliseconds per page and database, for answers rendered
anew and for answers the process has already rendered under the same ETag. Issue 18 asks
p95 <= 50 ms. The machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
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
from iphs_flow.store.migrate import upgrade
from iphs_flow.store.tables import Case, GateDecision, ProcessVersion, Publication, PublicationGoal

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SUMMARY = ("Staden prövar ett nytt sätt att göra skolvägen tryggare under de mörka månaderna. "
           "Piloten pågår i tre skolor och följs upp med elever och vårdnadshavare.\n\n") * 3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def seed(ctx, n_cases: int, n_published: int) -> list[int]:
    """Bulk-insert cases and publications; returns the published records' ids."""
    at = now()
    engine = ctx.uow.engine
    rng = random.Random(18)
    with engine.begin() as conn:
        version_id = conn.execute(insert(ProcessVersion).returning(ProcessVersion.id), [{
            "process_key": "innovation", "version": 1, "name": "Innovation", "content_hash": "bench",
            "files": {}, "forms": {}, "deployed_by": "bench", "deployed_at": at}]).scalar_one()
    every = max(1, n_cases // n_published)
    published: list[int] = []
    batch = 2000
    for start in range(0, n_cases, batch):
        cases, publications, goals, decisions = [], [], [], []
        for i in range(start, min(n_cases, start + batch)):
            case_id = i + 1
            created = at - timedelta(days=rng.randint(0, 700))
            status = rng.choice(["running"] * 6 + ["completed", "terminated"])
            cases.append({"id": case_id, "number": f"BENCH {i:06d}", "title": f"Internt ärende {i}",
                          "process_version_id": version_id, "process_key": "innovation",
                          "stage": rng.randint(0, 6), "status": status, "owner": f"user{i % 300}", "state": "{}",
                          "incident": None, "next_timer_at": None, "created_at": created, "updated_at": created,
                          "closed_at": None, "version": 1})
            if i % every == 0 and len(published) < n_published:
                pid = len(published) + 1
                published.append(pid)
                chosen = rng.sample(range(1, 18), rng.randint(1, 3))
                changed = created + timedelta(days=rng.randint(0, 30))
                publications.append({
                    "id": pid, "case_id": case_id, "state": "published", "title": f"Publicerat ärende {pid}",
                    "summary": SUMMARY, "goals": sorted(chosen), "unit": f"Förvaltning {pid % 14}",
                    "contact_email": f"enhet{pid % 14}@stad.se", "image": None, "image_type": None,
                    "image_alt": None, "image_hash": None, "created_by": "lena", "created_at": created,
                    "updated_by": "lena", "updated_at": changed, "published_by": "lena", "published_at": changed,
                    "unpublished_by": None, "unpublished_at": None, "unpublish_reason": None,
                    "public_changed_at": changed, "version": 1})
                goals += [{"publication_id": pid, "goal": g} for g in chosen]
                if pid % 2:
                    decisions.append({"case_id": case_id, "task_id": None, "event_id": None, "stage": 1,
                                      "gate": "G1_decide", "gate_name": "G1", "form_key": "gate_g1", "round": 1,
                                      "outcome": "approved", "reason": None, "conditions": [], "resume_date": None,
                                      "data": {}, "decider": "bo", "at": changed})
        with engine.begin() as conn:
            conn.execute(insert(Case), cases)
            if publications:
                conn.execute(insert(Publication), publications)
                conn.execute(insert(PublicationGoal), goals)
            if decisions:
                conn.execute(insert(GateDecision), decisions)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return published


def measure(client, path: str, n: int, cold: bool) -> tuple[float, float]:
    """p50/p95; `cold` renders every answer anew (the rendered-answer cache emptied before each request)."""
    client.get(path)  # warm the database's caches and compiled statements
    times = []
    for _ in range(n):
        if cold:
            client.application.extensions.pop("iphs_showcase_rendered", None)
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(times), pct(times, 0.95)


def run(url: str, label: str, n_cases: int, n_published: int, n: int) -> None:
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn"))
    upgrade(ctx.uow.engine)
    t0 = time.perf_counter()
    published = seed(ctx, n_cases, n_published)
    print(f"{label}: seeded {n_cases} cases, {len(published)} published, in {time.perf_counter() - t0:.1f} s")
    app = create_app(context=ctx)
    client = app.test_client(use_cookies=False)
    pages = [("list", "/stadens-innovationer"), ("list, goal filter", "/stadens-innovationer?mal=11"),
             ("list, goal+stage+phase", "/stadens-innovationer?mal=3&steg=3&fas=testar"),
             ("list, page 40", "/stadens-innovationer?sida=40"), ("list, English", "/stadens-innovationer?lang=en")]
    for name, path in pages:
        p50, p95 = measure(client, path, n, cold=True)
        w50, w95 = measure(client, path, n, cold=False)
        print(f"  {name:26s} rendered: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms"
              f"   cached: p50 {w50:5.1f} ms  p95 {w95:5.1f} ms")
    rng = random.Random(7)
    times = []
    for _ in range(n):
        pid = rng.choice(published)
        client.application.extensions.pop("iphs_showcase_rendered", None)
        t0 = time.perf_counter()
        response = client.get(f"/stadens-innovationer/{pid}")
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    print(f"  {'case page (random)':26s} rendered: p50 {statistics.median(times):6.1f} ms"
          f"  p95 {pct(times, 0.95):6.1f} ms")
    etag = client.get("/stadens-innovationer").headers["ETag"]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = client.get("/stadens-innovationer", headers={"If-None-Match": etag})
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 304
    print(f"  {'list, 304 revalidation':26s} p50 {statistics.median(times):6.1f} ms  p95 {pct(times, 0.95):6.1f} ms")
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--published", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="iphs-bench-public-"))
        run(f"sqlite:///{folder / 'bench.db'}", "SQLite", args.cases, args.published, args.requests)
    if args.db in ("postgres", "both"):
        name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), "PostgreSQL",
                args.cases, args.published, args.requests)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()

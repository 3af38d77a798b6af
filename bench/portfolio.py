"""Portfolio benchmark: /portfolj and its Excel export with 20,000 cases and 200,000 history events.

    python -m bench.portfolio [--cases N] [--events N] [--lessons N] [--runs N] [--skip-postgres]

Seeds a throwaway database per back end (bench/portfolio_seed.py: direct SQL inserts of case
histories, stage records and gate decisions), then signs in through the login form and
prints p50/p95 of GET /portfolj (rendered HTML, as an innovation lead who sees every case,
with and without filters, broad and narrow, one that keeps every case, and as a manager who sees
only their reports' cases; with the machine's load average after each) and the
seconds of an Excel export of a 20,000-row table (one row per case: the reasons table
is the longest a real portfolio has; here it is timed on the workbook writer directly
and through GET /portfolj.xlsx). Targets: page p95 <= 300 ms; a 20,000-row Excel <= 5 s.
The machines are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from iphs_flow.app import create_app
from iphs_flow.bootstrap import build
from iphs_flow.config import Settings
from iphs_flow.services import accounts, processes
from iphs_flow.services import portfolio_export as export
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import portfolio as pf
from iphs_flow.store.migrate import upgrade

from .portfolio_seed import seed_portfolio

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "bench password 123"
DESIGNER = Actor("dora", frozenset({"process_designer"}))
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def signed_in(app: Any, username: str) -> Any:
    client = app.test_client()
    token = _TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code
    return client


def timed(client: Any, url: str, runs: int) -> list[float]:
    client.get(url)  # warm: templates compiled, connections open
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return out


def run(label: str, url: str, n_cases: int, n_events: int, n_lessons: int, runs: int) -> None:
    ctx = build(Settings(database_url=url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                         script_time_limit=60))  # a loaded machine must not fail the deploy checks
    try:
        upgrade(ctx.uow.engine)
        processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
        accounts.add_user(ctx, "lena", "Lena", password=PASSWORD, roles={"innovation_lead"},
                          groups={"innovation-leads"})
        accounts.add_user(ctx, "maja", "Maja", password=PASSWORD)
        for n in range(0, 500, 50):  # ten of the 500 owners report to maja
            accounts.add_user(ctx, f"user{n}", f"User {n}", manager="maja")
        started = time.perf_counter()
        counts = seed_portfolio(ctx, n_cases, n_events, n_lessons)
        seeded = time.perf_counter() - started
        started = time.perf_counter()
        stale = pf._stale_cases(ctx)
        pf.summarise(ctx, stale)
        summarised = time.perf_counter() - started
        app = create_app(context=ctx)
        lena, maja = signed_in(app, "lena"), signed_in(app, "maja")
        year_ago = (date.today() - timedelta(days=365)).isoformat()
        pages = [("lead, no filters", lena, "/portfolj"),
                 ("lead, last year", lena, f"/portfolj?from={year_ago}"),
                 ("lead, last year, one unit", lena, f"/portfolj?from={year_ago}&unit=Enhet+Kista"),
                 ("lead, goal 11, running", lena, "/portfolj?goal=11&status=running"),
                 ("lead, one process (every case)", lena, "/portfolj?process=innovation"),
                 ("manager (own reports only)", maja, "/portfolj")]
        print(f"\n{label}: {counts['case']} cases, {counts['case_event']} history events, "
              f"{counts['stage_record']} stage records, {counts['gate_decision']} gate decisions, "
              f"{counts['search_document']} lessons; seeded in {seeded:.0f} s; "
              f"{len(stale)} case histories summarised in {summarised:.0f} s")
        for name, client, path in pages:
            values = timed(client, path, runs)
            print(f"  GET /portfolj {name:30s} p50 {statistics.median(values):6.1f} ms   "
                  f"p95 {pct(values, 0.95):6.1f} ms   (n={len(values)}, load {os.getloadavg()[0]:.1f})")
        lead = Actor("lena", frozenset({"innovation_lead"}), frozenset({"innovation-leads"}))
        started = time.perf_counter()
        portfolio = pf.read_portfolio(ctx, lead)
        read_s = time.perf_counter() - started
        biggest = max(portfolio.tables, key=lambda t: len(t.rows))
        rows = tuple((biggest.rows * (n_cases // max(1, len(biggest.rows)) + 1))[:n_cases]) if biggest.rows else ()
        wide = pf.Table(biggest.key, biggest.title, biggest.columns, rows)
        started = time.perf_counter()
        body = export.tables_xlsx([wide])
        xlsx_s = time.perf_counter() - started
        print(f"  read_portfolio (lead, all cases): {read_s * 1000:.0f} ms; longest table {biggest.key} "
              f"{len(biggest.rows)} rows")
        print(f"  Excel of {len(rows)} rows ({biggest.key}, {len(biggest.columns)} columns): "
              f"{xlsx_s:.2f} s, {len(body) / 1e6:.1f} MB")
        started = time.perf_counter()
        response = lena.get("/portfolj.xlsx")
        print(f"  GET /portfolj.xlsx (every table, lead): {time.perf_counter() - started:.2f} s, "
              f"{len(response.data) / 1e6:.2f} MB, status {response.status_code}")
    finally:
        ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--lessons", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run("SQLite", f"sqlite:///{folder}/bench.db", args.cases, args.events, args.lessons, args.runs)
    if args.skip_postgres:
        return
    name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        run("PostgreSQL", make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False),
            args.cases, args.events, args.lessons, args.runs)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

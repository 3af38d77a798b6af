"""Scheduler benchmark: 10,000 due reminders with one and with two scheduler processes,
and how late a timer fires after its due time.

    python -m bench.scheduler [--reminders N] [--timers N]

Each reminder is the whole path: a BPMN boundary timer fires (case row locked with
SKIP LOCKED, workflow loaded, run, saved), its `notify` task becomes an in-app
notification and a mail job, and the mail goes over SMTP to a local aiosmtpd. The
schedulers are real `iphs-flow scheduler` processes on a throwaway PostgreSQL database
(cloned from a template so both runs start from the same 10,000 due cases).
Lateness: cases whose timers fall due 50 ms apart while one scheduler runs; the figure
is the time between a timer's due time and its `timer_fired` history entry.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import Case, CaseEvent
from tests.conftest import make_context
from tests.smtp_server import MailServer

from .engine import PG_ADMIN, ROOT, pct

MODEL = ROOT / "tests" / "fixtures" / "bpmn" / "scheduler_reminder.bpmn"
DESIGNER = Actor("dora", frozenset({"process_designer"}))
OWNERS = 20


def _url(name: str) -> str:
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


@contextmanager
def database(template: str | None = None) -> Iterator[str]:
    name = f"iphs_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(url: str, count: int, due: datetime | None = None, spacing: timedelta = timedelta(0)) -> None:
    ctx = make_context(url)
    processes.deploy_process(ctx, {MODEL.name: MODEL.read_bytes()}, DESIGNER)
    for n in range(OWNERS):
        accounts.add_user(ctx, f"owner{n}", f"Ägare {n}", email=f"owner{n}@example.se",
                          language="en" if n % 2 else "sv")
    start = due or now()
    for i in range(count):
        owner = Actor(f"owner{i % OWNERS}", frozenset({"idea_owner"}))
        cases.start_case(ctx, "scheduler_reminder", {"remind_at": (start + spacing * i).isoformat()}, owner,
                         title=f"Ärende {i}")
    ctx.close()


def spawn(url: str, smtp_port: int, name: str) -> subprocess.Popen:
    env = dict(os.environ, IPHS_DATABASE_URL=url, IPHS_SMTP_HOST="127.0.0.1", IPHS_SMTP_PORT=str(smtp_port),
               IPHS_SCHEDULER_POLL_SECONDS="0.5", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "iphs_flow.cli", "scheduler", "--worker", name], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def throughput(template: str, count: int, schedulers: int) -> None:
    with database(template) as name:
        server = MailServer().start()
        try:
            started = time.perf_counter()
            procs = [spawn(_url(name), server.port, f"s{n}") for n in range(schedulers)]
            got = server.wait_for(count, timeout=1800)
            first = time.perf_counter() - started
            stop(procs)
        finally:
            server.stop()
        unique = len({m.message_id for m in got})
        print(f"  {schedulers} scheduler(s): {unique:,} of {count:,} reminders fired, notified and mailed in "
              f"{first:.1f} s ({unique / first:,.0f}/s, including ~1 s process start); "
              f"{len(got) - unique} duplicate mail(s)")


def lateness(count: int) -> None:
    spacing = timedelta(milliseconds=50)
    with database() as name:
        url = _url(name)
        due0 = now() + timedelta(seconds=8)
        seed(url, count, due0, spacing)
        server = MailServer().start()
        try:
            procs = [spawn(url, server.port, "late")]
            server.wait_for(count, timeout=120)
            stop(procs)
        finally:
            server.stop()
        engine = create_engine(url)
        with engine.connect() as conn:
            rows = conn.execute(select(Case.title, CaseEvent.at).join(Case, Case.id == CaseEvent.case_id)
                                .where(CaseEvent.kind == "timer_fired")).all()
        engine.dispose()
        late = []
        for title, at in rows:
            index = int(title.split()[-1])
            late.append(((at if at.tzinfo else at.replace(tzinfo=due0.tzinfo)) - (due0 + spacing * index))
                        .total_seconds() * 1000)
        print(f"  timer lateness over {len(late)} timers due 50 ms apart: p50 {pct(late, 0.5):.0f} ms, "
              f"p95 {pct(late, 0.95):.0f} ms, max {max(late):.0f} ms, mean {statistics.mean(late):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--timers", type=int, default=200)
    args = parser.parse_args()
    print(f"PostgreSQL, {args.reminders:,} due reminders (timer → notification → mail over SMTP):")
    with database() as template:
        started = time.perf_counter()
        seed(_url(template), args.reminders)
        print(f"  (seeded {args.reminders:,} cases in {time.perf_counter() - started:.0f} s)")
        create_engine(PG_ADMIN).dispose()
        for schedulers in (1, 2):
            throughput(template, args.reminders, schedulers)
    print("Lateness, one scheduler:")
    lateness(args.timers)


if __name__ == "__main__":
    main()

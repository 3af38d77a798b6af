"""Several app processes and two schedulers on one PostgreSQL, started as the README says
(`iphs-flow serve --no-scheduler` with IPHS_WORKERS, and `iphs-flow scheduler` twice):
cases are driven through the API while one web worker and one scheduler are SIGKILLed.
Nothing is lost and nothing is done twice: every case exists once, every timer fired once,
every reminder mail reached the SMTP server with its own Message-ID."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, api_tokens, jobs, processes
from iphs_flow.store.tables import Case, CaseEvent
from tests.conftest import ADMIN, DESIGNER, fixture_files, make_context
from tests.integration.test_scheduler_processes import scheduler, stop
from tests.server_process import ServerProcess

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES = 40
OWNERS = 4


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def start_case(url: str, token: str, n: int) -> int:
    """POST /cases with one Idempotency-Key, retried on a lost answer or a 5xx as a real client would."""
    key = str(uuid.uuid4())
    body = {"process": "scheduler_reminder", "title": f"Ärende {n}",
            "data": {"remind_at": (now() + timedelta(seconds=3)).isoformat()}}
    for _ in range(20):
        try:
            response = requests.post(url + "/api/v1/cases", json=body, timeout=10,
                                     headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})
        except requests.RequestException:
            time.sleep(0.3)
            continue
        if response.status_code in (200, 201):
            return response.json()["id"]
        if response.status_code in (409, 429) or response.status_code >= 500:
            time.sleep(0.3)
            continue
        raise AssertionError(f"{response.status_code} {response.text[:300]}")
    raise AssertionError(f"case {n} was never acknowledged")


def test_two_schedulers_and_three_workers_lose_nothing_and_do_nothing_twice_when_one_of_each_is_killed(
        postgres_url, mail_server, tmp_path):
    ctx = make_context(postgres_url)
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    tokens = []
    for n in range(OWNERS):
        accounts.add_user(ctx, f"owner{n}", f"Ägare {n}", email=f"owner{n}@example.se")
        tokens.append(api_tokens.create_token(ctx, accounts.actor_for(ctx, f"owner{n}"), "lasttest", "write").secret)
    web = ServerProcess(postgres_url, tmp_path / "web.log", "--no-scheduler", IPHS_WORKERS="3", IPHS_THREADS="4",
                        IPHS_API_RATE="100000/minute").start()
    schedulers = [scheduler(postgres_url, mail_server.port, name, tmp_path, IPHS_JOB_LEASE_SECONDS="3")
                  for name in ("scheduler-a", "scheduler-b")]
    acknowledged: list[int] = []
    failures: list[BaseException] = []

    def client(slot: int) -> None:
        try:
            for n in range(slot, CASES, OWNERS):
                acknowledged.append(start_case(web.url, tokens[slot], n))
        except BaseException as err:
            failures.append(err)

    try:
        threads = [threading.Thread(target=client, args=(slot,)) for slot in range(OWNERS)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < CASES // 3 and not failures:
            time.sleep(0.05)
        victim = worker_pids(web.proc.pid)[0]
        subprocess.run(["kill", "-KILL", str(victim)], check=True)  # one web worker, mid-traffic
        while len(acknowledged) < CASES // 2 and not failures:
            time.sleep(0.05)
        schedulers[0].send_signal(signal.SIGKILL)  # one scheduler, while timers fall due
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert len(acknowledged) == CASES
        workers = worker_pids(web.proc.pid)
        assert victim not in workers and len(workers) == 3  # gunicorn's master replaced the killed worker
        mail_server.wait_for(CASES, timeout=120)
        time.sleep(4)  # past the dead scheduler's leases: anything it held is redone by now, if at all
    finally:
        logs = stop(tmp_path, *schedulers)
        web.stop()

    with ctx.uow.read() as tx:
        assert tx.session.execute(select(func.count()).select_from(Case)).scalar_one() == CASES  # no double starts
        fired = Counter(tx.session.execute(select(CaseEvent.case_id).where(CaseEvent.kind == "timer_fired")).scalars())
    assert sorted(fired) == sorted(acknowledged) and set(fired.values()) == {1}, logs  # each timer fired once
    received = mail_server.received()
    assert len({m.message_id for m in received}) == CASES, logs  # every reminder mail, each its own
    assert len(received) - CASES <= 1  # at most the one mail in flight at the kill, resent with its Message-ID
    assert Counter(m.to for m in {m.message_id: m for m in received}.values()) == {
        f"owner{n}@example.se": CASES // OWNERS for n in range(OWNERS)}
    assert jobs.job_counts(ctx) == {"sent": CASES}
    assert jobs.list_job_incidents(ctx, ADMIN) == []
    ctx.close()

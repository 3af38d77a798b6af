"""Several `iphs-flow scheduler` processes against one PostgreSQL: each reminder is sent once,
also when a scheduler is killed in the middle of a batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, cases, jobs, processes
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN, DESIGNER, ROOT, fixture_files, make_context

pytestmark = pytest.mark.postgres

REMINDERS = 500
OWNERS = 10


@pytest.fixture
def due_reminders(postgres_url):
    """500 cases whose reminder timer is due at once, owned by ten people with mail addresses."""
    ctx = make_context(postgres_url)
    processes.deploy_process(ctx, fixture_files("scheduler_reminder.bpmn"), DESIGNER)
    for n in range(OWNERS):
        accounts.add_user(ctx, f"owner{n}", f"Ägare {n}", email=f"owner{n}@example.se",
                          language="en" if n % 2 else "sv")
    remind_at = (now() + timedelta(seconds=1)).isoformat()
    for i in range(REMINDERS):
        owner = Actor(f"owner{i % OWNERS}", frozenset({"idea_owner"}))
        cases.start_case(ctx, "scheduler_reminder", {"remind_at": remind_at}, owner, title=f"Ärende {i}")
    yield ctx
    ctx.close()


def scheduler(url: str, smtp_port: int, name: str, log_dir: Path, **env: str) -> subprocess.Popen:
    environment = dict(os.environ, IPHS_DATABASE_URL=url, IPHS_SMTP_HOST="127.0.0.1",
                       IPHS_SMTP_PORT=str(smtp_port), IPHS_SCHEDULER_POLL_SECONDS="0.5",
                       IPHS_JOB_BATCH="50", PYTHONPATH=str(ROOT), **env)
    with open(log_dir / f"{name}.log", "wb") as log:  # a file, not a pipe nobody reads
        return subprocess.Popen([sys.executable, "-m", "iphs_flow.cli", "scheduler", "--worker", name],
                                env=environment, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def stop(log_dir: Path, *procs: subprocess.Popen) -> str:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return "".join(p.read_text(errors="replace") for p in sorted(log_dir.glob("*.log")))


def assert_each_owner_got_their_reminders(received) -> None:
    assert Counter(m.to for m in received) == {f"owner{n}@example.se": REMINDERS // OWNERS for n in range(OWNERS)}
    english = [m for m in received if m.to == "owner1@example.se"]
    assert all(m.language == "en" and m.subject.startswith("Reminder: Svara in ") for m in english)


def test_two_schedulers_send_500_due_reminders_exactly_once(postgres_url, due_reminders, mail_server,
                                                          tmp_path) -> None:
    first = scheduler(postgres_url, mail_server.port, "first", tmp_path)
    second = scheduler(postgres_url, mail_server.port, "second", tmp_path)
    try:
        mail_server.wait_for(REMINDERS, timeout=90)
        time.sleep(1.5)  # room for a duplicate to show up, if there were one
    finally:
        logs = stop(tmp_path, first, second)
    received = mail_server.received()
    assert len({m.message_id for m in received}) == REMINDERS, logs
    assert len(received) == REMINDERS  # no duplicates
    assert_each_owner_got_their_reminders(received)
    assert jobs.job_counts(due_reminders) == {"sent": REMINDERS}
    assert "Traceback" not in logs, logs
    assert "first: " in logs and "second: " in logs  # both schedulers did part of the work


def test_a_scheduler_killed_mid_batch_leaves_nothing_unsent(postgres_url, due_reminders, mail_server,
                                                           tmp_path) -> None:
    """SIGKILL between "the SMTP server accepted it" and "recorded as sent" can resend that one
    mail (with the same Message-ID) once the lease runs out; everything else is sent once."""
    mail_server.delay = 0.01  # a slow server, so the kill lands in the middle of a batch
    victim = scheduler(postgres_url, mail_server.port, "victim", tmp_path, IPHS_JOB_LEASE_SECONDS="3")
    try:
        mail_server.wait_for(100, timeout=60)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        sent_before_kill = len(mail_server.received())
        assert sent_before_kill < REMINDERS
        survivor = scheduler(postgres_url, mail_server.port, "survivor", tmp_path, IPHS_JOB_LEASE_SECONDS="3")
        try:
            mail_server.wait_for(REMINDERS, timeout=90)
            time.sleep(4)  # past the dead scheduler's leases
        finally:
            logs = stop(tmp_path, survivor)
    finally:
        if victim.poll() is None:
            victim.kill()
    received = mail_server.received()
    assert len({m.message_id for m in received}) == REMINDERS, logs
    assert len(received) - REMINDERS <= 1  # at most the one mail in flight at the kill
    assert_each_owner_got_their_reminders({m.message_id: m for m in received}.values())
    assert jobs.job_counts(due_reminders) == {"sent": REMINDERS}
    assert jobs.list_job_incidents(due_reminders, ADMIN) == []

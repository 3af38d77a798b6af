"""Due work in the outbox: lease it, do it, record the outcome; retries and incidents.

Jobs are rows, not APScheduler entries: any number of schedulers may run. A scheduler
leases a batch (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, BEGIN IMMEDIATE on
SQLite), commits the lease, does the work, and settles each job only if it still holds
the lease. A crashed scheduler's leases run out and another scheduler takes over.

Exactly once, honestly: notifications and digests are pure database work and happen
in the same transaction that marks the job done, so they happen once. A mail is sent
between two transactions (lease, then "sent"): if the process dies after the SMTP
server accepted the message and before "sent" is committed - a window of one local
UPDATE - the mail is sent again after the lease runs out, with the same Message-ID so
the receiver can drop the duplicate. The alternative, marking "sent" first, would lose
mails silently, which is worse.
"""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.engine.clock import now
from iphs_flow.notify.mailer import MAIL_ERRORS, SmtpMailer
from iphs_flow.store.tables import Outbox

from .errors import Conflict, NotFound, ServiceError
from .following import FOLLOW_NOTICE, dispatch_follow_notice
from .messages import run_thrown_event
from .notifications import NobodyToNotify, build_digest, dispatch_notification
from .permissions import ADMINISTRATOR, Actor, require_role
from .portfolio_news import JOB as MONTHLY_DIGEST
from .portfolio_news import build_monthly_digest

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)

MailerFactory = Callable[[Settings], AbstractContextManager[Any]]


@dataclass(frozen=True)
class JobRun:
    claimed: int = 0
    done: int = 0
    sent: int = 0
    retried: int = 0
    incidents: int = 0
    lost: int = 0


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    status: str
    case_id: int | None
    recipient: str | None
    to: str | None
    subject: str | None
    body: str | None
    due_at: datetime
    attempts: int
    last_error: str | None
    created_at: datetime
    idempotency_key: str


def worker_name() -> str:
    """host:pid:random - unique per scheduler process, readable in the outbox listing."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(settings: Settings, attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … (base doubles per attempt), at most an hour."""
    seconds = settings.mail_retry_seconds * (2 ** max(attempts - 1, 0))
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


# ---------------------------------------------------------------- running jobs


def _claim(ctx: AppContext, worker: str, limit: int) -> list[Outbox]:
    at = now()
    with ctx.uow.write() as tx:
        rows = tx.outbox.claim_due(at, worker, at + timedelta(seconds=ctx.settings.job_lease_seconds), limit)
        tx.commit()
        return rows


def _fail(ctx: AppContext, worker: str, job: Outbox, error: str, *, final: bool = False) -> str:
    """Record a failed attempt: retry later with backoff, or become an incident."""
    at = now()
    give_up = final or job.attempts >= ctx.settings.mail_max_attempts
    values: dict[str, Any] = {"last_error": error[:2000]}
    if give_up:
        values["status"] = "incident"
    else:
        values["due_at"] = at + backoff(ctx.settings, job.attempts)
    with ctx.uow.write() as tx:
        settled = tx.outbox.finish(job.id, worker, **values)
        tx.commit()
    if not settled:
        return "lost"
    log.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, error)
    return "incident" if give_up else "retried"


def _run_in_database(ctx: AppContext, worker: str, job: Outbox) -> str:
    """A notification or digest: the work and "done" commit together, or not at all."""
    try:
        with ctx.uow.write() as tx:
            at = now()
            if job.kind == "notification":
                dispatch_notification(tx, job, ctx.settings, at)
            elif job.kind == "digest":
                build_digest(tx, job, ctx.settings, at)
            elif job.kind == FOLLOW_NOTICE:
                dispatch_follow_notice(tx, job, ctx.settings, at)
            elif job.kind == MONTHLY_DIGEST:
                build_monthly_digest(tx, job, ctx.settings, at)
            else:
                raise NobodyToNotify(f"unknown job kind '{job.kind}'")
            if not tx.outbox.finish(job.id, worker, status="done", last_error=None):
                tx.session.rollback()
                return "lost"
            tx.commit()
            return "done"
    except NobodyToNotify as err:
        return _fail(ctx, worker, job, str(err), final=True)
    except Exception as err:  # noqa: BLE001 - a broken job must not stop the others; it is recorded
        log.exception("job %s failed", job.id)
        return _fail(ctx, worker, job, f"{type(err).__name__}: {err}")


def _deliver_thrown(ctx: AppContext, worker: str, job: Outbox) -> str:
    """A message or signal one case threw for another (services/messages.py delivers it)."""

    try:
        run_thrown_event(ctx, job)
    except ServiceError as err:
        return _fail(ctx, worker, job, err.message)
    except Exception as err:  # noqa: BLE001 - a broken job must not stop the others; it is recorded
        log.exception("job %s failed", job.id)
        return _fail(ctx, worker, job, f"{type(err).__name__}: {err}")
    with ctx.uow.write() as tx:
        settled = tx.outbox.finish(job.id, worker, status="done", last_error=None)
        tx.commit()
    return "done" if settled else "lost"


def _settle_sent(ctx: AppContext, worker: str, job: Outbox) -> str:
    with ctx.uow.write() as tx:
        settled = tx.outbox.finish(job.id, worker, status="sent", last_error=None)
        tx.commit()
    return "sent" if settled else "lost"


def _hold(ctx: AppContext, worker: str, job: Outbox) -> str:
    with ctx.uow.write() as tx:
        settled = tx.outbox.finish(job.id, worker, status="held", last_error="no SMTP server configured")
        tx.commit()
    return "done" if settled else "lost"


def _renew(ctx: AppContext, worker: str, jobs: list[Outbox]) -> tuple[list[Outbox], int]:
    """Extend the leases of the mails not sent yet; drop (and count) any this worker lost."""
    at = now()
    with ctx.uow.write() as tx:
        held = tx.outbox.renew([j.id for j in jobs], worker, at + timedelta(seconds=ctx.settings.job_lease_seconds))
        tx.commit()
    kept = [j for j in jobs if j.id in held]
    return kept, len(jobs) - len(kept)


def _send_mails(ctx: AppContext, worker: str, jobs: list[Outbox], mailer: MailerFactory) -> list[str]:
    """Send a batch over one SMTP session, settling each mail as soon as the server took it.

    A slow server must not let the batch's leases run out (another scheduler would send
    the rest again): the leases of the unsent mails are renewed every third of a lease.
    """
    if not jobs:
        return []
    if not ctx.settings.smtp_host:
        return [_hold(ctx, worker, job) for job in jobs]
    outcomes: list[str] = []
    remaining = list(jobs)
    renew_every = ctx.settings.job_lease_seconds / 3
    renewed = time.monotonic()
    try:
        with mailer(ctx.settings) as session:
            while remaining:
                if time.monotonic() - renewed > renew_every:
                    remaining, lost = _renew(ctx, worker, remaining)
                    outcomes.extend(["lost"] * lost)
                    renewed = time.monotonic()
                    if not remaining:
                        break
                job = remaining[0]
                try:
                    session.send(job.payload)
                except MAIL_ERRORS as err:
                    remaining.pop(0)
                    outcomes.append(_fail(ctx, worker, job, f"{type(err).__name__}: {err}"))
                    if not _connection_alive(err):
                        raise
                    continue
                remaining.pop(0)
                outcomes.append(_settle_sent(ctx, worker, job))
    except MAIL_ERRORS as err:
        # Could not connect, or the connection broke: every unsent job in the batch retries.
        outcomes.extend(_fail(ctx, worker, job, f"{type(err).__name__}: {err}") for job in remaining)
    return outcomes


def _connection_alive(err: BaseException) -> bool:
    """A refused recipient or message leaves the session usable; a broken socket does not."""

    return isinstance(err, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError | smtplib.SMTPSenderRefused)


def process_due_jobs(ctx: AppContext, worker: str | None = None, *, limit: int | None = None,
                     mailer: MailerFactory = SmtpMailer) -> JobRun:
    """Lease one batch of due jobs and do them: database work first, then the mails."""
    worker = worker or worker_name()
    jobs = _claim(ctx, worker, limit or ctx.settings.job_batch)
    outcomes = [_run_in_database(ctx, worker, j) for j in jobs if j.kind not in ("mail", "bpmn_event")]
    outcomes += [_deliver_thrown(ctx, worker, j) for j in jobs if j.kind == "bpmn_event"]
    outcomes += _send_mails(ctx, worker, [j for j in jobs if j.kind == "mail"], mailer)
    return JobRun(claimed=len(jobs), done=outcomes.count("done"), sent=outcomes.count("sent"),
                  retried=outcomes.count("retried"), incidents=outcomes.count("incident"),
                  lost=outcomes.count("lost"))


def next_job_due(ctx: AppContext) -> datetime | None:
    with ctx.uow.read() as tx:
        return tx.outbox.next_due(now())


# ---------------------------------------------------------------- what administrators see and do


def _job_view(row: Outbox) -> JobView:
    payload = row.payload or {}
    subject = payload.get("subject") or (f"{payload.get('template')} → {payload.get('to')}"
                                         if row.kind == "notification" else None)
    return JobView(id=row.id, kind=row.kind, status=row.status, case_id=row.case_id, recipient=row.recipient,
                   to=payload.get("to") if isinstance(payload.get("to"), str) else None, subject=subject,
                   body=payload.get("body"), due_at=row.due_at, attempts=row.attempts,
                   last_error=row.last_error, created_at=row.created_at, idempotency_key=row.idempotency_key)


def list_job_incidents(ctx: AppContext, actor: Actor, limit: int = 200) -> list[JobView]:
    """Jobs that failed all their attempts (or could never succeed): they wait for an admin."""
    require_role(actor, ADMINISTRATOR, "see failed jobs")
    with ctx.uow.read() as tx:
        return [_job_view(r) for r in tx.outbox.listing(statuses=["incident"], limit=limit)]


def list_outbox(ctx: AppContext, actor: Actor, *, status: str | None = None, limit: int = 200) -> list[JobView]:
    """The mails: held ones (no SMTP server configured), queued, sent, failed - newest first."""
    require_role(actor, ADMINISTRATOR, "read the outbox")
    with ctx.uow.read() as tx:
        rows = tx.outbox.listing(statuses=[status] if status else None, kinds=["mail"], limit=limit)
        return [_job_view(r) for r in rows]


def _admin_change(ctx: AppContext, actor: Actor, job_id: int, allowed: tuple[str, ...], action: str,
                  **values: Any) -> JobView:
    require_role(actor, ADMINISTRATOR, f"{action} jobs")
    with ctx.uow.write() as tx:
        row = tx.outbox.get(job_id)
        if row is None:
            raise NotFound(f"there is no job {job_id}")
        if row.status not in allowed:
            raise Conflict(f"job {job_id} is {row.status}; only {' or '.join(allowed)} jobs can be {action}")
        for name, value in values.items():
            setattr(row, name, value)
        row.locked_by = row.locked_until = None
        tx.commit()
        return _job_view(row)


def retry_job(ctx: AppContext, job_id: int, actor: Actor) -> JobView:
    """Give a failed (or held) job a fresh set of attempts, due now."""
    return _admin_change(ctx, actor, job_id, ("incident", "held"), "retried",
                         status="pending", attempts=0, due_at=now())


def dismiss_job(ctx: AppContext, job_id: int, actor: Actor) -> JobView:
    """Give up a failed job for good; it stays listed as dismissed."""
    return _admin_change(ctx, actor, job_id, ("incident", "held"), "dismissed", status="dismissed")


def job_counts(ctx: AppContext, kind: str = "mail") -> dict[str, int]:
    with ctx.uow.read() as tx:
        return tx.outbox.count_by_status(kind)

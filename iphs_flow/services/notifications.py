"""Notifications: who is told, what they read, and how their mail is queued.

A `notify` task in a process writes one "notification" job in the case's transaction.
The scheduler turns that job, in one transaction, into an in-app notification per
recipient and a "mail" job per recipient with an e-mail address, so the case never
waits for SMTP and every mail is its own retryable, exactly-once unit of work.
People who chose a daily or weekly digest get their mails held until the next digest
time, where one "digest" job (one per person and period) collects them into one mail.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import STOCKHOLM, format_swedish, is_working_day
from iphs_flow.engine.clock import now
from iphs_flow.notify.mailer import message_id
from iphs_flow.notify.render import decision_label, language_of, render
from iphs_flow.store.tables import Case, HumanTask, Notification, Outbox, UserAccount
from iphs_flow.store.unit_of_work import Transaction

from .errors import InvalidInput, NotFound
from .permissions import ADMINISTRATOR, Actor, require_role
from .registration import register_sent_mail, withheld_for_person

NOTIFY_MODES = ("immediate", "daily", "weekly")
DIGEST_HOUR = time(7, 0)
KEY_LENGTH = 200


class NobodyToNotify(Exception):
    """A notification whose recipients resolve to nobody: an incident, never a silent drop."""


@dataclass(frozen=True)
class Recipient:
    username: str
    name: str
    email: str | None
    language: str
    mode: str


@dataclass(frozen=True)
class NotificationView:
    id: int
    case_id: int | None
    template: str
    subject: str
    body: str
    link: str
    created_at: datetime
    read_at: datetime | None


# ---------------------------------------------------------------- keys and times


def bounded_key(*parts: object) -> str:
    """An idempotency key from its parts, hashed when it would not fit the column."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= KEY_LENGTH:
        return key
    return f"{parts[0]}:sha256:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def digest_slot(mode: str, at: datetime) -> datetime:
    """When the digest that collects a mail written at `at` goes out.

    Daily: 07:00 Stockholm time on the next working day (today, if it is a working day
    and not yet 07:00). Weekly: 07:00 on the first working day of the next week that
    has not had its digest yet (usually Monday).
    """
    local = at.astimezone(STOCKHOLM)
    day = local.date()
    if datetime.combine(day, DIGEST_HOUR, STOCKHOLM) <= local:
        day += timedelta(days=1)
    if mode == "weekly":
        while day.weekday() != 0:
            day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, DIGEST_HOUR, STOCKHOLM)


def base_url(settings: Settings) -> str:
    return (settings.base_url or f"http://{settings.host}:{settings.port}").rstrip("/")


# ---------------------------------------------------------------- recipients


def _recipient(tx: Transaction, username: str) -> Recipient | None:
    user = tx.users.by_username(username)
    if user is None:
        # Someone known only by name (e.g. a case owner from an import): in-app only.
        return Recipient(username, username, None, "sv", "immediate")
    if not user.is_active:
        return None
    return _from_account(user)


def _from_account(user: UserAccount) -> Recipient:
    return Recipient(user.username, user.display_name or user.username, user.email,
                     language_of(user.language), user.notify_mode or "immediate")


def _members(tx: Transaction, group: str) -> list[Recipient]:
    return [_from_account(u) for u in tx.users.members(group)]


def _holders(tx: Transaction, task: HumanTask | None) -> list[Recipient]:
    """Who holds a task: its assignee, else every active member of its candidate group."""
    if task is None:
        return []
    if task.assignee:
        found = _recipient(tx, task.assignee)
        return [found] if found else []
    return _members(tx, task.candidate_group) if task.candidate_group else []


def resolve_recipients(tx: Transaction, case: Case | None, to: str, task: HumanTask | None) -> list[Recipient]:
    """owner | assignee | manager | group:<name>, as PROCESS.md's notify tasks name them."""
    to = (to or "").strip()
    people: list[Recipient | None]
    if to == "owner":
        people = [_recipient(tx, case.owner)] if case is not None else []
    elif to == "assignee":
        people = list(_holders(tx, task))
    elif to == "manager":
        managers = {h.username: tx.users.by_username(h.username) for h in _holders(tx, task)}
        names = sorted({u.manager_username for u in managers.values() if u is not None and u.manager_username})
        people = [_recipient(tx, name) for name in names]
    elif to.startswith("group:") and to[6:].strip():
        people = list(_members(tx, to[6:].strip()))
    else:
        raise NobodyToNotify(f"unknown recipient '{to}' (use owner, assignee, manager or group:<name>)")
    unique = {p.username: p for p in people if p is not None}
    if not unique:
        about = f" about task '{task.task_key}'" if task is not None else ""
        raise NobodyToNotify(f"nobody to notify for '{to}'{about}: no active person found")
    return list(unique.values())


# ---------------------------------------------------------------- turning a job into messages


def _context(recipient: Recipient, payload: dict[str, Any], case: Case | None, task: HumanTask | None,
             link: str, holder: str) -> dict[str, Any]:
    params = dict(payload.get("params") or {})
    return {
        "recipient_name": recipient.name, "case_number": payload.get("case_number", ""),
        "case_title": payload.get("case_title", ""), "task_name": task.name if task else "",
        "due": format_swedish(task.due_at) if task is not None and task.due_at else "",
        "link": link, "params": params, "holder": holder, "template": payload.get("template", ""),
        "decision_label": decision_label(params.get("decision"), recipient.language),
        "end_date": params.get("end_date", ""),
        "for_you": task is not None and task.assignee == recipient.username,
    }


def _mail_payload(recipient: Recipient, subject: str, body: str, link: str, key: str,
                  settings: Settings) -> dict[str, Any]:
    return {"to": recipient.email, "name": recipient.name, "username": recipient.username,
            "language": recipient.language, "subject": subject, "body": body, "link": link,
            "message_id": message_id(key, settings.mail_from)}


def queue_mail(tx: Transaction, settings: Settings, recipient: Recipient, key: str, subject: str, body: str,
               link: str, case_id: int | None, at: datetime) -> None:
    """One mail job per person and event (or a digest item for digest readers)."""
    if not recipient.email:
        return
    mail_key = bounded_key("mail", key)
    payload = _mail_payload(recipient, subject, body, link, mail_key, settings)
    if recipient.mode in ("daily", "weekly"):
        slot = digest_slot(recipient.mode, at)
        tx.outbox.add_for(mail_key, "mail", payload, recipient=recipient.username, status="digest",
                          due_at=slot, case_id=case_id)
        tx.outbox.add_for(bounded_key("digest", recipient.username, slot.strftime("%Y%m%dT%H%M")), "digest",
                          {"username": recipient.username, "mode": recipient.mode},
                          recipient=recipient.username, status="pending", due_at=slot)
        return
    tx.outbox.add_for(mail_key, "mail", payload, recipient=recipient.username,
                      status="pending" if settings.smtp_host else "held", due_at=at, case_id=case_id)


def _task_of(tx: Transaction, case: Case | None, payload: dict[str, Any]) -> HumanTask | None:
    """The task a notification is about: by its row id when given, else by its BPMN id."""
    if case is None:
        return None
    task_id = payload.get("task_id")
    if isinstance(task_id, int):
        row = tx.tasks.get(task_id)
        return row if row is not None and row.case_id == case.id else None
    about = payload.get("about_task")
    return tx.tasks.latest_for_key(case.id, about) if about else None


def dispatch_notification(tx: Transaction, job: Outbox, settings: Settings, at: datetime) -> int:
    """Turn a "notification" job into in-app notifications and mail jobs; returns the recipients.

    Idempotent: run twice (a scheduler lost its lease half-way), the unique keys make
    the second run add nothing.
    """
    payload = job.payload
    case = tx.cases.get(job.case_id) if job.case_id is not None else None
    task = _task_of(tx, case, payload)
    if payload.get("only_open") and (task is None or task.state != "open"):
        return 0  # a task announced when it opened was done or cancelled before the notice went out
    recipients = resolve_recipients(tx, case, payload.get("to", ""), task)
    skip = set(payload.get("skip") or ())
    if skip:
        recipients = [r for r in recipients if r.username not in skip]
    root = base_url(settings)
    if task is not None and task.state == "open":
        link = f"{root}/tasks/{task.id}"
    else:
        link = f"{root}/cases/{case.id}" if case is not None else root
    holder = ", ".join(h.name for h in _holders(tx, task)) or (task.candidate_group or "") if task else ""
    for person in recipients:
        # A manager reads the case, not the subordinate's task page.
        person_link = f"{root}/cases/{case.id}" if payload.get("to") == "manager" and case else link
        personal = payload
        if case is not None:  # secret-marked fields (OSL) never reach a mail to someone who does not handle the case
            withheld = withheld_for_person(tx, person.username, case)
            if withheld:
                personal = {**payload, "params": withheld.redact(payload.get("params") or {})}
        text = render(payload.get("template", "generic"), person.language,
                      _context(person, personal, case, task, person_link, holder))
        key = bounded_key(job.idempotency_key, person.username)
        tx.notifications.add_once(Notification(
            key=key, username=person.username, case_id=job.case_id, template=payload.get("template", "generic"),
            subject=text.subject, body=text.body, link=person_link, created_at=at, read_at=None))
        queue_mail(tx, settings, person, key, text.subject, text.body, person_link, job.case_id, at)
        if case is not None and person.email:  # a decision or message sent out is an outgoing document
            register_sent_mail(tx, case, payload.get("template", "generic"), bounded_key("mail", key),
                               person.username, text.subject, at)
    return len(recipients)


def build_digest(tx: Transaction, job: Outbox, settings: Settings, at: datetime) -> int:
    """Collect a person's held mails up to this digest's time into one mail; returns how many."""
    username = job.recipient or job.payload.get("username", "")
    items = tx.outbox.digest_items(username, job.due_at)
    user = tx.users.by_username(username)
    if items and user is not None and user.is_active and user.email:
        person = _from_account(user)
        entries = [{"when": format_swedish(i.created_at), "subject": i.payload.get("subject", ""),
                    "link": i.payload.get("link", "")} for i in items]
        text = render("digest", person.language, {"recipient_name": person.name, "items": entries,
                                                  "mode": job.payload.get("mode", person.mode)})
        mail_key = bounded_key("mail", job.idempotency_key)
        tx.outbox.add_for(mail_key, "mail", _mail_payload(person, text.subject, text.body, base_url(settings),
                                                          mail_key, settings),
                          recipient=username, status="pending" if settings.smtp_host else "held", due_at=at)
    for item in items:
        item.status = "digested"
    return len(items)


# ---------------------------------------------------------------- what a person reads and chooses


def _view(row: Notification) -> NotificationView:
    return NotificationView(id=row.id, case_id=row.case_id, template=row.template, subject=row.subject,
                            body=row.body, link=row.link, created_at=row.created_at, read_at=row.read_at)


def list_notifications(ctx: AppContext, actor: Actor, *, unread_only: bool = False,
                       limit: int = 50) -> list[NotificationView]:
    """The actor's own in-app notifications, newest first."""
    with ctx.uow.read() as tx:
        return [_view(r) for r in tx.notifications.for_user(actor.username, unread_only=unread_only,
                                                            limit=limit)]


def unread_count(ctx: AppContext, actor: Actor) -> int:
    with ctx.uow.read() as tx:
        return tx.notifications.unread_count(actor.username)


def mark_read(ctx: AppContext, actor: Actor, ids: list[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them without `ids`); others' are untouched."""
    with ctx.uow.write() as tx:
        count = tx.notifications.mark_read(actor.username, ids, now())
        tx.commit()
        return count


def set_notify_mode(ctx: AppContext, actor: Actor, username: str, mode: str) -> str:
    """Immediate mails, or a daily or weekly digest: people choose for themselves; admins for anyone."""
    if actor.username != username:
        require_role(actor, ADMINISTRATOR, "change someone else's mail settings")
    if mode not in NOTIFY_MODES:
        raise InvalidInput("unknown mail setting", {"notify_mode": [f"one of {', '.join(NOTIFY_MODES)}"]})
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user {username}")
        user.notify_mode = mode
        tx.users.log("notify_mode_changed", username, {"mode": mode, "by": actor.username})
        tx.commit()
        return mode

"""Every place a person appears: the read side of a register extract (GDPR art. 15).

Two kinds of place: columns that *name* a person (a case's owner, an event's actor, a
task's assignee …), matched exactly, and free text that *mentions* them (form answers,
comments, titles, mails), matched on their display name and e-mail address. The second
kind is found with a substring filter in SQL and confirmed in Python, so no table is read
whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, String, Table, Text, cast, null, or_, select
from sqlalchemy.orm import Session

from iphs_flow.store.tables import (
    AccessLog,
    ApiToken,
    Base,
    Case,
    CaseAttachment,
    CaseComment,
    CaseEvent,
    HumanTask,
    Notification,
    Outbox,
    TaskDraft,
    UserAccount,
)

# Columns that hold a user name, by table: the person is *named* there.
NAMING_COLUMNS: dict[str, tuple[str, ...]] = {
    "process_version": ("deployed_by",),
    "case": ("owner",),
    "human_task": ("assignee", "closed_by"),
    "case_event": ("actor",),
    "notification": ("username",),
    "user_account": ("username", "manager_username"),
    "access_log": ("username",),
    "task_draft": ("username",),
    "case_comment": ("author",),
    "case_attachment": ("uploaded_by",),
    "design_draft": ("updated_by",),
    "idempotency_key": ("username",),
    "outbox": ("recipient",),
    "stage_record": ("actor",),
    "gate_decision": ("decider",),
    "case_read": ("username",),
    "retention_rule": ("created_by",),
    "weeding_list": ("created_by", "approved_by"),
    "case_update": ("author",),
    "secrecy_marking": ("marked_by",),
    "case_registration": ("updated_by",),
    "registered_document": ("registered_by", "counterpart"),
}
SKIP_TABLES = {"alembic_version", "case_counter"}


@dataclass(frozen=True)
class Mention:
    table: str
    column: str
    row_id: Any
    case_id: int | None


def needles(account: UserAccount) -> list[str]:
    """The strings that identify the person inside free text (never the bare user name:
    "bo" or "eva" are words and names of others, too)."""
    found = [account.display_name, account.email or ""]
    return [n for n in dict.fromkeys(v.strip() for v in found) if len(n) >= 4]


def text_columns(table: Table) -> list[Any]:
    return [c for c in table.columns if isinstance(c.type, (String, Text, JSON))]


def candidates(session: Session, table: Table, column: Any, variants: list[str]) -> Iterator[tuple[Any, Any, Any]]:
    """(primary key, case id or None, value) of the rows whose `column` contains one of `variants`."""
    as_text = cast(column, Text) if isinstance(column.type, JSON) else column
    key = list(table.primary_key.columns)[0]
    case_column = table.c.id if table.name == "case" else table.c.get("case_id")
    query = select(key, case_column if case_column is not None else null(), column).where(
        or_(*(as_text.contains(v, autoescape=True) for v in variants)))
    for row in session.execute(query):
        yield row[0], row[1], row[2]


def mentions(session: Session, account: UserAccount) -> list[Mention]:
    """Free-text places that mention the person, in every table (new tables included)."""
    texts = needles(account)
    if not texts:
        return []
    variants = list(dict.fromkeys(v for t in texts for v in (t, t.lower(), t.upper(), t.title())))
    lowered = [t.casefold() for t in texts]
    found: list[Mention] = []
    for table in Base.metadata.sorted_tables:
        if table.name in SKIP_TABLES:
            continue
        naming = set(NAMING_COLUMNS.get(table.name, ()))
        for column in text_columns(table):
            if column.name in naming or column.name in ("password_hash", "secret_hash", "oidc_subject"):
                continue
            for key, case_id, value in candidates(session, table, column, variants):
                text = value if isinstance(value, str) else repr(value)
                if any(t in text.casefold() for t in lowered):
                    found.append(Mention(table.name, column.name, key, case_id))
    return found


@dataclass(frozen=True)
class PersonRows:
    account: UserAccount
    cases_owned: list[Case]
    tasks: list[tuple[HumanTask, Case]]
    events: list[tuple[CaseEvent, Case]]
    comments: list[tuple[CaseComment, Case]]
    attachments: list[tuple[CaseAttachment, Case]]
    notifications: list[Notification]
    mails: list[Outbox]
    drafts: int
    tokens: list[ApiToken]
    access: list[AccessLog]
    mentions: list[Mention]


def person_rows(session: Session, username: str, *, limit: int = 5000) -> PersonRows | None:
    account = session.scalars(select(UserAccount).where(UserAccount.username == username)).first()
    if account is None:
        return None
    recipients = [username] + ([account.email] if account.email else [])
    return PersonRows(
        account=account,
        cases_owned=list(session.scalars(select(Case).where(Case.owner == username).order_by(Case.id).limit(limit))),
        tasks=list(session.execute(
            select(HumanTask, Case).join(Case, Case.id == HumanTask.case_id)
            .where(or_(HumanTask.assignee == username, HumanTask.closed_by == username))
            .order_by(HumanTask.id).limit(limit))),
        events=list(session.execute(
            select(CaseEvent, Case).join(Case, Case.id == CaseEvent.case_id).where(CaseEvent.actor == username)
            .order_by(CaseEvent.id).limit(limit))),
        comments=list(session.execute(
            select(CaseComment, Case).join(Case, Case.id == CaseComment.case_id)
            .where(CaseComment.author == username).order_by(CaseComment.id).limit(limit))),
        attachments=list(session.execute(
            select(CaseAttachment, Case).join(Case, Case.id == CaseAttachment.case_id)
            .where(CaseAttachment.uploaded_by == username).order_by(CaseAttachment.id).limit(limit))),
        notifications=list(session.scalars(select(Notification).where(Notification.username == username)
                                           .order_by(Notification.id).limit(limit))),
        mails=list(session.scalars(select(Outbox).where(Outbox.recipient.in_(recipients))
                                   .order_by(Outbox.id).limit(limit))),
        drafts=len(session.scalars(select(TaskDraft.id).where(TaskDraft.username == username)).all()),
        tokens=list(session.scalars(select(ApiToken).where(ApiToken.user_id == account.id).order_by(ApiToken.id))),
        access=list(session.scalars(select(AccessLog).where(AccessLog.username == username)
                                    .order_by(AccessLog.id.desc()).limit(limit))),
        mentions=mentions(session, account),
    )

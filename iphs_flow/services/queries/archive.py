"""What the e-archive export reads of a closed case: the case, its history, tasks, comments, files.

One read per case, in the order the package lists things; SQL on purpose (a read model).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iphs_flow.store.tables import (
    Case,
    CaseAttachment,
    CaseComment,
    CaseEvent,
    HumanTask,
    ProcessVersion,
    UserAccount,
)

CLOSED = ("completed", "terminated")


@dataclass(frozen=True)
class CaseRecordSet:
    case: Case
    process_name: str
    process_version: int
    forms: dict[str, Any]
    events: Sequence[CaseEvent]
    form_keys: dict[int, str | None]  # human task id -> its form key
    comments: Sequence[CaseComment]
    attachments: Sequence[CaseAttachment]
    people: dict[str, UserAccount]  # every account the case names, by username


def case_records(session: Session, case_id: int) -> CaseRecordSet | None:
    case = session.get(Case, case_id)
    if case is None:
        return None
    version = session.get(ProcessVersion, case.process_version_id)
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
    tasks = session.execute(select(HumanTask.id, HumanTask.form_key).where(HumanTask.case_id == case_id)).all()
    comments = session.scalars(select(CaseComment).where(CaseComment.case_id == case_id)
                               .order_by(CaseComment.id)).all()
    attachments = session.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case_id)
                                  .order_by(CaseAttachment.id)).all()
    names = {case.owner, *(e.actor for e in events), *(c.author for c in comments),
             *(a.uploaded_by for a in attachments)}
    people = {u.username: u for u in session.scalars(select(UserAccount).where(UserAccount.username.in_(names)))}
    return CaseRecordSet(case=case, process_name=version.name if version else case.process_key,
                         process_version=version.version if version else 0,
                         forms=dict(version.forms) if version else {}, events=events,
                         form_keys={task_id: key for task_id, key in tasks}, comments=comments,
                         attachments=attachments, people=people)


def closed_case_ids(session: Session, start: date, end: date) -> list[int]:
    """Closed cases whose closing day (UTC) falls in [start, end], oldest first."""
    low = datetime.combine(start, time.min, tzinfo=timezone.utc)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=timezone.utc)
    return list(session.scalars(
        select(Case.id).where(Case.status.in_(CLOSED), Case.closed_at >= low, Case.closed_at < high)
        .order_by(Case.closed_at, Case.id)))

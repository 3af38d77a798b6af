"""What the retention rules make due: drafts, notifications and closed cases older than kept.

SQL on purpose (a read model); each function returns rows with just enough to describe
them on a weeding list, never their content.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from iphs_flow.store.tables import Case, CaseEvent, HumanTask, Notification, TaskDraft

CLOSED = ("completed", "terminated")


def due_drafts(session: Session, cutoff: datetime, process_key: str | None) -> Sequence[Any]:
    query = (select(TaskDraft.id, TaskDraft.saved_at, Case.number, Case.process_key)
             .join(HumanTask, HumanTask.id == TaskDraft.task_id).join(Case, Case.id == HumanTask.case_id)
             .where(TaskDraft.saved_at < cutoff))
    if process_key:
        query = query.where(Case.process_key == process_key)
    return session.execute(query.order_by(TaskDraft.id)).all()


def due_notifications(session: Session, cutoff: datetime, process_key: str | None) -> Sequence[Any]:
    query = (select(Notification.id, Notification.created_at, Case.number, Case.process_key)
             .outerjoin(Case, Case.id == Notification.case_id).where(Notification.created_at < cutoff))
    if process_key:
        query = query.where(Case.process_key == process_key)
    return session.execute(query.order_by(Notification.id)).all()


def closed_cases_before(session: Session, cutoff: datetime, process_key: str | None) -> Sequence[Any]:
    query = select(Case.id, Case.number, Case.process_key, Case.status, Case.closed_at).where(
        Case.status.in_(CLOSED), Case.closed_at < cutoff)
    if process_key:
        query = query.where(Case.process_key == process_key)
    return session.execute(query.order_by(Case.id)).all()


def last_decisions(session: Session, case_ids: list[int]) -> dict[int, str]:
    """The value of the last submitted `decision` of each case: how it ended."""
    if not case_ids:
        return {}
    found: dict[int, str] = {}
    # In event order, so the last completion that carries a decision wins.
    for case_id, data in session.execute(
            select(CaseEvent.case_id, CaseEvent.data).where(CaseEvent.case_id.in_(case_ids),
                                                            CaseEvent.kind == "task_completed")
            .order_by(CaseEvent.case_id, CaseEvent.id)):
        decision = ((data or {}).get("data") or {}).get("decision")
        if isinstance(decision, str):
            found[case_id] = decision
    return found

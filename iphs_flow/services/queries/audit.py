"""The audit trail: who opened (case_read) and who changed (case_event, people only) which case.

Both sources are filtered and ordered in SQL, newest first, and merged; SQL on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from iphs_flow.store.tables import Case, CaseEvent, CaseRead

SYSTEM = "system"


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    username: str
    kind: str  # read | change
    case_id: int
    case_number: str
    what: str
    row_id: int


def trail(session: Session, *, case_id: int | None, username: str | None, start: datetime | None,
          end: datetime | None, kind: str | None, before: tuple[datetime, str, int] | None,
          limit: int) -> list[AuditRow]:
    rows: list[AuditRow] = []
    if kind in (None, "read"):
        query = select(CaseRead.at, CaseRead.username, CaseRead.case_id, Case.number, CaseRead.what, CaseRead.id) \
            .join(Case, Case.id == CaseRead.case_id)
        query = _filtered(query, CaseRead, case_id, username, start, end)
        query = _after(query, CaseRead, "read", before)
        rows += [AuditRow(at, user, "read", cid, number, what, rid)
                 for at, user, cid, number, what, rid in session.execute(
                     query.order_by(CaseRead.at.desc(), CaseRead.id.desc()).limit(limit + 1))]
    if kind in (None, "change"):
        query = select(CaseEvent.at, CaseEvent.actor, CaseEvent.case_id, Case.number, CaseEvent.kind,
                       CaseEvent.task_name, CaseEvent.id).join(Case, Case.id == CaseEvent.case_id) \
            .where(CaseEvent.actor != SYSTEM)
        query = _filtered(query, CaseEvent, case_id, username, start, end, user_column="actor")
        query = _after(query, CaseEvent, "change", before)
        rows += [AuditRow(at, user, "change", cid, number, f"{event}: {task}" if task else event, rid)
                 for at, user, cid, number, event, task, rid in session.execute(
                     query.order_by(CaseEvent.at.desc(), CaseEvent.id.desc()).limit(limit + 1))]
    rows.sort(key=lambda r: (r.at, r.kind, r.row_id), reverse=True)
    return rows[: limit + 1]


def _after(query, table, kind: str, before: tuple[datetime, str, int] | None):  # noqa: ANN001, ANN202
    """Rows that sort after the cursor (at, kind, id) in the newest-first order of the merged trail."""
    if before is None:
        return query
    at, cursor_kind, row_id = before
    if kind == cursor_kind:
        return query.where((table.at < at) | ((table.at == at) & (table.id < row_id)))
    if kind < cursor_kind:  # at the same moment this source's rows come after the cursor's
        return query.where(table.at <= at)
    return query.where(table.at < at)


def _filtered(query, table, case_id, username, start, end, user_column: str = "username"):  # noqa: ANN001, ANN202
    if case_id is not None:
        query = query.where(table.case_id == case_id)
    if username:
        query = query.where(getattr(table, user_column) == username)
    if start is not None:
        query = query.where(table.at >= start)
    if end is not None:
        query = query.where(table.at < end)
    return query

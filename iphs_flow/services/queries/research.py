"""The reads behind a research export: the portfolio's rows, streamed in case order.

Every read here is a generator over one SELECT run with `yield_per` (a server-side cursor
on PostgreSQL, `stream_results`), handed on in partitions so the caller can look up the
secrecy markings of each partition's cases: nothing holds the whole portfolio in memory.
The cases are chosen by one subquery (`selected_case_ids`) that every read reuses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from iphs_flow.store.tables import (
    Case,
    CaseEvent,
    GateDecision,
    HumanTask,
    ProcessVersion,
    ResearchExport,
    StageRecord,
    UserAccount,
)

BATCH = 1000
# History rows that say someone took a task on (its waiting ends): claimed, assigned, delegated.
TAKEN = ("task_claimed", "task_assigned", "task_delegated")


@dataclass(frozen=True)
class CaseFilter:
    """Cases started on or before `period_to` and not closed before `period_from`, of `process_key`."""

    period_from: date | None = None
    period_to: date | None = None
    process_key: str | None = None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, timezone.utc)


def selected_case_ids(flt: CaseFilter) -> Select[Any]:
    """The ids of the cases in the export, as a subquery every file's read filters on."""
    stmt = select(Case.id)
    if flt.process_key:
        stmt = stmt.where(Case.process_key == flt.process_key)
    if flt.period_to is not None:
        stmt = stmt.where(Case.created_at < _start_of(flt.period_to + timedelta(days=1)))
    if flt.period_from is not None:
        stmt = stmt.where(or_(Case.closed_at.is_(None), Case.closed_at >= _start_of(flt.period_from)))
    return stmt


def _stream(session: Session, stmt: Select[Any]) -> Iterator[Sequence[Row[Any]]]:
    # On the session's connection (Core, not the ORM's loading): plain rows, in the same transaction.
    result = session.connection().execute(stmt.execution_options(yield_per=BATCH, stream_results=True))
    try:
        yield from result.partitions(BATCH)
    finally:
        result.close()


def cases(session: Session, flt: CaseFilter) -> Iterator[Sequence[Row[Any]]]:
    stmt = (select(Case.id, Case.process_key, ProcessVersion.version, Case.process_version_id, Case.status,
                   Case.stage, Case.owner, Case.title, Case.created_at, Case.closed_at)
            .join(ProcessVersion, ProcessVersion.id == Case.process_version_id)
            .where(Case.id.in_(selected_case_ids(flt))).order_by(Case.id))
    return _stream(session, stmt)


def tasks(session: Session, flt: CaseFilter) -> Iterator[Sequence[Row[Any]]]:
    """Every task of the cases, with the moment someone first took it on (claim, assignment, delegation)."""
    task_id = CaseEvent.data["task_id"].as_integer()
    taken = (select(task_id.label("task_id"), func.min(CaseEvent.at).label("taken_at"))
             .where(CaseEvent.kind.in_(TAKEN), CaseEvent.case_id.in_(selected_case_ids(flt)))
             .group_by(task_id).subquery())
    stmt = (select(HumanTask.id, HumanTask.case_id, HumanTask.task_key, HumanTask.name, HumanTask.stage,
                   HumanTask.candidate_group, HumanTask.state, HumanTask.assignee, HumanTask.closed_by,
                   HumanTask.created_at, taken.c.taken_at, HumanTask.closed_at, HumanTask.due_at)
            .outerjoin(taken, taken.c.task_id == HumanTask.id)
            .where(HumanTask.case_id.in_(selected_case_ids(flt)))
            .order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id))
    return _stream(session, stmt)


def stage_tasks(session: Session, flt: CaseFilter) -> Iterator[Sequence[Row[Any]]]:
    """The staged tasks of each case in the order they opened, with the case's end: stage visits come from these."""
    stmt = (select(HumanTask.case_id, HumanTask.stage, HumanTask.created_at, HumanTask.closed_at,
                   Case.closed_at.label("case_closed_at"))
            .join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.case_id.in_(selected_case_ids(flt)), HumanTask.stage.is_not(None))
            .order_by(HumanTask.case_id, HumanTask.created_at, HumanTask.id))
    return _stream(session, stmt)


def stage_records(session: Session, flt: CaseFilter) -> Iterator[Sequence[Row[Any]]]:
    stmt = (select(StageRecord.id, StageRecord.case_id, Case.process_version_id, StageRecord.stage,
                   StageRecord.task_key, StageRecord.form_key, StageRecord.round, StageRecord.data,
                   StageRecord.actor, StageRecord.at)
            .join(Case, Case.id == StageRecord.case_id)
            .where(StageRecord.case_id.in_(selected_case_ids(flt)))
            .order_by(StageRecord.case_id, StageRecord.id))
    return _stream(session, stmt)


def gate_decisions(session: Session, flt: CaseFilter) -> Iterator[Sequence[Row[Any]]]:
    stmt = (select(GateDecision.id, GateDecision.case_id, Case.process_version_id, GateDecision.stage,
                   GateDecision.gate, GateDecision.gate_name, GateDecision.form_key, GateDecision.round,
                   GateDecision.outcome, GateDecision.reason, GateDecision.conditions, GateDecision.resume_date,
                   GateDecision.decider, GateDecision.at)
            .join(Case, Case.id == GateDecision.case_id)
            .where(GateDecision.case_id.in_(selected_case_ids(flt)))
            .order_by(GateDecision.case_id, GateDecision.id))
    return _stream(session, stmt)


def source_row_counts(session: Session, flt: CaseFilter) -> int:
    """How many rows the export reads (cases, tasks, staged tasks again, stage records, gate decisions)."""
    ids = selected_case_ids(flt)
    counts = [select(func.count()).select_from(Case).where(Case.id.in_(ids)),
              select(func.count()).select_from(HumanTask).where(HumanTask.case_id.in_(ids)),
              select(func.count()).select_from(HumanTask).where(HumanTask.case_id.in_(ids),
                                                                 HumanTask.stage.is_not(None)),
              select(func.count()).select_from(StageRecord).where(StageRecord.case_id.in_(ids)),
              select(func.count()).select_from(GateDecision).where(GateDecision.case_id.in_(ids))]
    return sum(session.scalar(stmt) or 0 for stmt in counts)


def version_forms(session: Session) -> dict[int, dict[str, Any]]:
    """Each process version's forms (schema and ui by form key): where the shareable marks are."""
    return {row.id: row.forms or {} for row in session.execute(select(ProcessVersion.id, ProcessVersion.forms))}


def people(session: Session) -> list[tuple[str, str, str | None]]:
    """(username, display name, e-mail) of every account: the names scrubbed out of free text."""
    return [(r.username, r.display_name, r.email) for r in
            session.execute(select(UserAccount.username, UserAccount.display_name, UserAccount.email))]


def process_keys(session: Session) -> list[str]:
    return list(session.scalars(select(ProcessVersion.process_key).distinct().order_by(ProcessVersion.process_key)))


@dataclass(frozen=True)
class ExportLogRow:
    id: int
    username: str
    at: datetime
    channel: str
    filter: dict[str, Any]
    row_counts: dict[str, int]

    @property
    def total_rows(self) -> int:
        return sum(int(v) for v in self.row_counts.values())


def export_log(session: Session, username: str | None = None, limit: int = 200) -> list[ExportLogRow]:
    """The newest research exports first; only `username`'s when given."""
    stmt = select(ResearchExport).order_by(ResearchExport.at.desc(), ResearchExport.id.desc()).limit(limit)
    if username is not None:
        stmt = stmt.where(and_(ResearchExport.username == username))
    return [ExportLogRow(r.id, r.username, r.at, r.channel, dict(r.filter or {}), dict(r.row_counts or {}))
            for r in session.scalars(stmt)]

"""What happened in the portfolio in one calendar month, as one reader may see it (the monthly digest).

New cases, stage changes, gate decisions and implemented cases of the month, each only for
cases the reader may see (queries/search.py:visible_cases, the case page's rule in SQL),
oldest first. No case content beyond number and title is read: the digest goes to people
who do not handle the cases, and a title marked secret is flagged so it is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from iphs_flow.engine.vocabulary import plain_status
from iphs_flow.store.tables import Case, CaseEvent, GateDecision

from ..permissions import Actor
from ..secrecy import secrets_of
from .full_text import visible_cases

IMPLEMENTED = "Genomförd"  # the plain status words of a case that was carried out


@dataclass(frozen=True)
class NewsItem:
    case_id: int
    number: str
    title: str
    title_secret: bool
    at: datetime
    stage_from: int | None = None
    stage_to: int | None = None
    gate_name: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class PortfolioMonth:
    new_cases: tuple[NewsItem, ...]
    stage_changes: tuple[NewsItem, ...]
    decisions: tuple[NewsItem, ...]
    implemented: tuple[NewsItem, ...]

    @property
    def empty(self) -> bool:
        return not (self.new_cases or self.stage_changes or self.decisions or self.implemented)

    @property
    def case_ids(self) -> set[int]:
        return {i.case_id for part in (self.new_cases, self.stage_changes, self.decisions, self.implemented)
                for i in part}


def portfolio_month(session: Session, actor: Actor, start: datetime, end: datetime) -> PortfolioMonth:
    """The month [start, end) as `actor` may see it."""
    seen = visible_cases(session, actor)
    created = session.execute(select(Case.id, Case.number, Case.title, Case.created_at)
                              .where(Case.created_at >= start, Case.created_at < end, seen)
                              .order_by(Case.created_at, Case.id)).all()
    moved = session.execute(select(Case.id, Case.number, Case.title, CaseEvent.at, CaseEvent.data)
                            .join(CaseEvent, CaseEvent.case_id == Case.id)
                            .where(CaseEvent.kind == "stage_entered", CaseEvent.at >= start, CaseEvent.at < end, seen)
                            .order_by(CaseEvent.at, CaseEvent.id)).all()
    decided = session.execute(select(Case.id, Case.number, Case.title, GateDecision.at, GateDecision.gate_name,
                                     GateDecision.outcome)
                              .join(GateDecision, GateDecision.case_id == Case.id)
                              .where(GateDecision.at >= start, GateDecision.at < end, seen)
                              .order_by(GateDecision.at, GateDecision.id)).all()
    closed = session.execute(select(Case.id, Case.number, Case.title, Case.closed_at, Case.status)
                             .where(Case.closed_at >= start, Case.closed_at < end, Case.status == "completed", seen)
                             .order_by(Case.closed_at, Case.id)).all()
    last_outcome: dict[int, str] = {}
    if closed:
        for case_id, outcome in session.execute(
                select(GateDecision.case_id, GateDecision.outcome)
                .where(GateDecision.case_id.in_([r.id for r in closed])).order_by(GateDecision.id)):
            last_outcome[case_id] = outcome
    implemented = [r for r in closed if plain_status(r.status, last_outcome.get(r.id)).text == IMPLEMENTED
                   and r.id in last_outcome]
    ids = {r.id for part in (created, moved, decided, implemented) for r in part}
    secret = {case_id for case_id, s in secrets_of(session, ids).items() if s.hides("title")} if ids else set()

    def item(row: object, at: datetime, **extra: object) -> NewsItem:
        return NewsItem(row.id, row.number, row.title, row.id in secret, at, **extra)  # type: ignore[attr-defined,arg-type]

    return PortfolioMonth(
        new_cases=tuple(item(r, r.created_at) for r in created),
        stage_changes=tuple(item(r, r.at, stage_from=(r.data or {}).get("from"), stage_to=(r.data or {}).get("stage"))
                            for r in moved if (r.data or {}).get("from") is not None),  # a move, not the first stage
        decisions=tuple(item(r, r.at, gate_name=r.gate_name, outcome=r.outcome) for r in decided),
        implemented=tuple(item(r, r.closed_at) for r in implemented))

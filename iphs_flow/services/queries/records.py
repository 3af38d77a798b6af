"""The case's records: each stage's data and each gate decision, in the order they were made."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import StatusWords, plain_status
from iphs_flow.store.tables import GateDecision, StageRecord

from ..permissions import Actor
from ..registration import withheld_from
from ..visibility import visible_case


@dataclass(frozen=True)
class StageRecordView:
    id: int
    stage: int | None
    task_key: str
    task_name: str
    form_key: str | None
    round: int
    data: dict[str, Any]
    actor: str
    at: datetime
    event_id: int | None = None
    kind: str = "stage"


@dataclass(frozen=True)
class GateDecisionView:
    id: int
    stage: int | None
    gate: str
    gate_name: str
    form_key: str | None
    round: int
    outcome: str
    reason: str | None
    conditions: list[dict[str, Any]]
    resume_date: str | None
    data: dict[str, Any]
    decider: str
    at: datetime
    task_id: int | None = None
    event_id: int | None = None
    kind: str = "decision"


@dataclass(frozen=True)
class CaseRecords:
    stages: list[StageRecordView]
    decisions: list[GateDecisionView]

    def in_order(self) -> list[StageRecordView | GateDecisionView]:
        """Stage records and decisions together, oldest first."""
        both: list[StageRecordView | GateDecisionView] = [*self.stages, *self.decisions]
        return sorted(both, key=lambda r: (r.event_id is None, r.event_id or 0, r.at))

    def latest_per_task(self) -> list[StageRecordView]:
        """The newest record of each task, in the order the tasks were first done."""
        newest: dict[str, StageRecordView] = {}
        for record in self.stages:
            newest.pop(record.task_key, None)
            newest[record.task_key] = record
        first = {r.task_key: i for i, r in reversed(list(enumerate(self.stages)))}
        return sorted(newest.values(), key=lambda r: first[r.task_key])

    def at_gate(self, gate: str) -> list[GateDecisionView]:
        return [d for d in self.decisions if d.gate == gate]

    @property
    def last_decision(self) -> GateDecisionView | None:
        return self.decisions[-1] if self.decisions else None


def stage_view(row: StageRecord) -> StageRecordView:
    return StageRecordView(row.id, row.stage, row.task_key, row.task_name, row.form_key, row.round,
                           dict(row.data or {}), row.actor, row.at, row.event_id)


def decision_view(row: GateDecision) -> GateDecisionView:
    conditions = [c for c in (row.conditions or []) if isinstance(c, dict)]
    return GateDecisionView(row.id, row.stage, row.gate, row.gate_name, row.form_key, row.round, row.outcome,
                            row.reason, conditions, row.resume_date, dict(row.data or {}), row.decider, row.at,
                            row.task_id, row.event_id)


def records_in(session: Any, case_id: int) -> CaseRecords:
    """Both kinds of record of one case, read in the caller's transaction (two queries)."""
    stages = session.scalars(select(StageRecord).where(StageRecord.case_id == case_id)
                             .order_by(StageRecord.event_id, StageRecord.id)).all()
    decisions = session.scalars(select(GateDecision).where(GateDecision.case_id == case_id)
                                .order_by(GateDecision.event_id, GateDecision.id)).all()
    return CaseRecords([stage_view(r) for r in stages], [decision_view(r) for r in decisions])


def last_decisions(session: Any, case_ids: list[int]) -> dict[int, GateDecisionView]:
    """The newest decision of each of `case_ids`, in one query (for status words in lists)."""
    if not case_ids:
        return {}
    newest = (select(GateDecision.case_id, func.max(GateDecision.id).label("id"))
              .where(GateDecision.case_id.in_(case_ids)).group_by(GateDecision.case_id).subquery())
    rows = session.scalars(select(GateDecision).join(newest, GateDecision.id == newest.c.id)).all()
    return {row.case_id: decision_view(row) for row in rows}


def case_records(ctx: AppContext, case_ref: str | int, actor: Actor) -> CaseRecords:
    """The records of a case the actor may see (NotFound otherwise, alike for a missing case)."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)

        return redacted_records(records_in(tx.session, case.id), withheld_from(tx, actor, case))


def status_words(status: str, last: GateDecisionView | None, open_tasks: list[Any]) -> StatusWords:
    """Plain words for where a case stands, from its last decision and what it waits for."""
    return plain_status(status, last.outcome if last else None, last.resume_date if last else None,
                        [t.form_key for t in open_tasks])


def redacted_records(records: CaseRecords, withheld: Any) -> CaseRecords:
    """The records with what `withheld` (services/registration.py:Withheld) hides left out: marked
    fields of every record, and a decision's reason when `reason`/`comment` is marked."""
    if not withheld:
        return records

    stages = [replace(r, data=withheld.redact(r.data, r.actor)) for r in records.stages]
    decisions = [d if d.decider == withheld.author else
                 replace(d, data=withheld.redact(d.data), reason=None if withheld.secrets.hides_reason else d.reason,
                         conditions=[] if withheld.hides("conditions") else d.conditions)
                 for d in records.decisions]
    return CaseRecords(stages, decisions)

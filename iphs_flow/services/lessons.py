"""Lessons learned as records of their own (issue 17 point 1): the city's knowledge base.

A lesson is written in the transaction that completes the evaluation, the closure, a gate
decision that stops the case (a rejection, a referral, "not realised") or an
administrator's termination, with what worked, what did not and what others can reuse.
Each completion is a row of its own, numbered by `round` per source: nothing is
overwritten when the closure asks again what the evaluation asked.

Every signed-in person reads lessons (that is their point); an innovation lead can keep
one internal with a reason, recorded in the case's history, and then only those who may
see the case read it. The reads are services/queries/lessons.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.orm import Session

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import gate_outcome
from iphs_flow.store import case_facts
from iphs_flow.store.tables import Case, CaseEvent, GateDecision, Lesson, StageRecord

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, INNOVATION_LEAD, Actor

# The form fields a lesson's three parts come from. `lessons_learned` (the evaluation's and the
# closure's long-standing field, "what others have use of") is what others can reuse.
TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "worked": ("lessons_worked",),
    "not_worked": ("lessons_not_worked",),
    "reusable": ("lessons_learned", "lessons"),
}
LESSON_KEYS: tuple[str, ...] = tuple(key for keys in TEXT_KEYS.values() for key in keys)
SOURCES = ("evaluation", "closure", "rejection", "stop")
SOURCE_FORMS = {"evaluation": "evaluation", "closure": "closure"}  # form key -> source
# Gate outcomes that end the case short of implementation: their lesson is a rejection's.
STOP_OUTCOMES = frozenset({"rejected", "referred", "not_realised", "not_now", "refer_to_innovation"})
NEED_FORMS = ("need", "improvement_suggestion")
MAX_TEXT = 8000
MAX_REASON = 2000


def lesson_texts(data: Mapping[str, Any]) -> dict[str, str | None]:
    """What worked, what did not and what others can reuse, from a form's data (None when not given)."""
    out: dict[str, str | None] = {}
    for part, keys in TEXT_KEYS.items():
        found = None
        for key in keys:
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                found = value.strip()[:MAX_TEXT]
                break
        out[part] = found
    return out


def public_parts(secrets: Any) -> tuple[str, ...]:
    """The parts of a lesson that may be read city-wide: those whose form field is not marked secret."""
    return tuple(part for part, keys in TEXT_KEYS.items() if not any(secrets.hides(key) for key in keys))


def source_of(form_key: str | None, outcome: str | None) -> str | None:
    """Which kind of lesson a completion records: a stopping gate decision's, or an evaluation's or closure's."""
    if outcome is not None:
        return "rejection" if outcome in STOP_OUTCOMES else None
    return SOURCE_FORMS.get(form_key or "")


def year_of(at: datetime) -> int:
    return at.astimezone(STOCKHOLM).year if at.tzinfo else at.year


def _context(session: Session | Connection, case_id: int) -> tuple[str | None, list[int]]:
    """The unit and the Agenda 2030 goals the case's need named (its newest need record)."""
    rows = session.execute(select(StageRecord.data).where(
        StageRecord.case_id == case_id, StageRecord.form_key.in_(NEED_FORMS)).order_by(StageRecord.id)).all()
    unit, goals = None, []
    for (data,) in rows:
        data = data or {}
        if isinstance(data.get("unit"), str) and data["unit"].strip():
            unit = data["unit"].strip()[:300]
        if isinstance(data.get("agenda2030_goals"), list):
            goals = sorted({g for g in data["agenda2030_goals"] if isinstance(g, int) and 1 <= g <= 17})
    return unit, goals


def _outcome(session: Session | Connection, source: str, case_id: int, data: Mapping[str, Any],
             gate_result: str | None) -> str:
    if source == "rejection" and gate_result:
        return gate_result
    if source == "stop":
        return "terminated"
    if source == "evaluation":
        recommendation = data.get("recommendation")
        return recommendation if isinstance(recommendation, str) and recommendation else "evaluated"
    last = session.execute(select(GateDecision.outcome).where(GateDecision.case_id == case_id)
                           .order_by(GateDecision.id.desc()).limit(1)).scalar_one_or_none()
    return last or "completed"


def record_lesson(session: Session | Connection, *, case_id: int, source: str, task_key: str | None,
                  stage: int | None, data: Mapping[str, Any], author: str, at: datetime, event_id: int | None,
                  gate_result: str | None = None) -> int | None:
    """Append the lesson `data` holds, if it holds any text; returns its id."""
    texts = lesson_texts(data)
    if not any(texts.values()):
        return None
    unit, goals = _context(session, case_id)
    rounds = session.execute(select(func.count(Lesson.id)).where(Lesson.case_id == case_id,
                                                                 Lesson.source == source)).scalar_one()
    if isinstance(session, Session):  # the case has a lesson now, whatever the transaction read before
        case_facts.note(session, case_id, **{case_facts.HAS_LESSONS: True})
    return session.execute(insert(Lesson).values(
        case_id=case_id, source=source, task_key=task_key, round=int(rounds) + 1, event_id=event_id, stage=stage,
        outcome=_outcome(session, source, case_id, data, gate_result)[:40], unit=unit, goals=goals,
        year=year_of(at), author=author, at=at, internal=False, **texts).returning(Lesson.id)).scalar_one()


def holds_lesson(form_key: str | None, outcome: str | None, data: Mapping[str, Any]) -> bool:
    """Whether completing a task of `form_key` with `data` records a lesson (record_for_completion)."""
    return source_of(form_key, outcome) is not None and any(lesson_texts(data).values())


def record_for_completion(session: Session, case_id: int, form_key: str | None, task_key: str, stage: int | None,
                          data: Mapping[str, Any], outcome: str | None, author: str, event: CaseEvent) -> int | None:
    """The lesson of a completed task, in the completing transaction (services/records.py calls it)."""
    source = source_of(form_key, outcome)
    if source is None or not holds_lesson(form_key, outcome, data):
        return None
    session.flush()  # the history row's id
    return record_lesson(session, case_id=case_id, source=source, task_key=task_key, stage=stage, data=data,
                         author=author, at=event.at or now(), event_id=event.id, gate_result=outcome)


def record_for_stop(session: Session, case: Case, data: Mapping[str, Any], author: str,
                    event: CaseEvent) -> int | None:
    """The lesson given when an administrator stops a case (services/case_admin.terminate_case)."""
    session.flush()
    return record_lesson(session, case_id=case.id, source="stop", task_key=None, stage=case.stage, data=data,
                         author=author, at=event.at or now(), event_id=event.id)


# ---------------------------------------------------------------- internal lessons


def set_internal(ctx: AppContext, lesson_id: int, internal: bool, reason: str, actor: Actor) -> bool:
    """Keep a lesson internal (only those who may see the case read it), or share it city-wide again.

    Innovation leads and administrators; keeping one internal needs a reason. Both are recorded
    in the case's history. Returns the lesson's new state; Conflict if it already is so.
    """
    if not (actor.has(INNOVATION_LEAD) or actor.has(ADMINISTRATOR)):
        raise Forbidden("you may not change who reads a lesson (needs the role innovation_lead)")
    reason = (reason or "").strip()
    if internal and not reason:
        raise InvalidInput("a reason is required to keep a lesson internal", {"reason": ["required"]})
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason may be at most {MAX_REASON} characters",
                           {"reason": [f"at most {MAX_REASON} characters"]})
    with ctx.uow.write() as tx:
        lesson = tx.session.get(Lesson, lesson_id)
        if lesson is None:
            raise NotFound(f"no lesson {lesson_id}")
        if lesson.internal == internal:
            raise Conflict("the lesson is already internal" if internal else "the lesson is already city-wide")
        lesson.internal = internal
        lesson.internal_reason = reason if internal else None
        lesson.internal_by = actor.username if internal else None
        lesson.internal_at = now() if internal else None
        tx.events.add(lesson.case_id, actor.username, "lesson_made_internal" if internal else "lesson_made_public",
                      data={"lesson_id": lesson.id, "reason": reason} if internal else {"lesson_id": lesson.id})
        tx.commit()
    return internal


# ---------------------------------------------------------------- existing cases (migration 0021)


def lessons_from_records(stages: Sequence[Any], decisions: Sequence[Any]) -> list[dict[str, Any]]:
    """The lessons a case's records hold, oldest first: (kind, form_key, task_key, stage, data, who, at, event)."""
    both = [("stage", r.form_key, r.task_key, r.stage, r.data or {}, r.actor, r.at, r.event_id, None)
            for r in stages]
    both += [("decision", r.form_key, r.gate, r.stage, r.data or {}, r.decider, r.at, r.event_id,
              gate_outcome(r.data or {}) or r.outcome) for r in decisions]
    both.sort(key=lambda r: (r[7] is None, r[7] or 0, r[6]))
    out = []
    for _kind, form_key, task_key, stage, data, who, at, event_id, outcome in both:
        source = source_of(form_key, outcome)
        if source is not None and any(lesson_texts(data).values()):
            out.append({"source": source, "task_key": task_key, "stage": stage, "data": data, "author": who,
                        "at": at, "event_id": event_id, "gate_result": outcome})
    return out


"""Keep the search index in step with the cases: one document per case and field.

`documents_for(title, events)` is a pure function of a case's title and history (the
data every form submitted), so it reads the same whatever the process version, and can
later read the per-stage records as well. `refresh(tx, case_id)` rewrites one case's
documents inside the caller's transaction (the use case that changed the case calls it,
so the case and its index never disagree); `rebuild` redoes every case
(`iphs-flow search reindex`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, inspect, null, select, text, update
from sqlalchemy.orm import Session

from iphs_flow.engine.clock import now
from iphs_flow.store import case_facts
from iphs_flow.store.tables import Case, CaseEvent, Lesson, SearchDocument, SecrecyMarking

from .lessons import lesson_texts, public_parts
from .permissions import ADMINISTRATOR, Actor, require_role
from .secrecy import NOTHING_SECRET, redact, secrets_of_case
from .text_analysis import analysed, clean

# Which document a form field's text belongs to. Fields of the shipped forms (forms/);
# text fields a designer adds later land in "other", so they are searchable too.
FIELD_OF: dict[str, str] = {
    # need (stage 0) and improvement suggestions
    "need": "need", "target_group": "need", "need_owner": "need", "current_situation": "need",
    "city_goals": "need", "suggestion": "need", "problem": "need", "expected_effect": "need", "unit": "need",
    # understand (1)
    "challenge_statement": "understand", "users_involved": "understand", "methods": "understand",
    "insights": "understand", "how_might_we": "understand", "actor_map": "understand", "early_risks": "understand",
    # idea and concept (2)
    "chosen_concept": "concept", "expected_benefits": "concept", "pilot_scope": "concept",
    "cost_description": "concept", "funding_source": "concept", "partners": "concept",
    "procurement_description": "concept", "pilot_plan": "concept",
    # test and pilot (3)
    "hypotheses": "pilot", "test_site": "pilot", "participants": "pilot", "indicators": "pilot",
    # evaluation (4), implementation (5), follow-up
    "results": "results", "user_feedback": "results", "cost_benefit": "results", "effect_on_goals": "results",
    "recommendation": "results", "implementation_scope": "results", "implementation_plan": "results",
    "receiving_units": "results", "spread_plan": "results", "operational_owner": "results",
    "followup_indicators": "results", "followup_summary": "results", "followup_results": "results",
    # decisions and what they asked for
    "reason": "decisions", "conditions": "decisions", "info_request": "decisions", "refer_to": "decisions",
    "screening_note": "decisions", "fulfilment_report": "decisions", "supplement_reply": "decisions",
    "responsible": "decisions", "condition": "decisions",
    # lessons learned (evaluation, closure; both are kept)
    "lessons_learned": "lessons", "lessons": "lessons", "lessons_worked": "lessons", "lessons_not_worked": "lessons",
}
# Codes, dates, flags and names of people: not text anyone searches for.
NOT_TEXT = frozenset({"title", "decision", "resume_date", "reply_deadline", "recycle_to_stage", "retention_class",
                      "quality_focus_area", "agenda2030_goals", "sustainability_dimensions", "start_date",
                      "end_date", "planned_date", "innovation_lead", "supplement_links", "personal_data",
                      "secrecy", "procurement_needed"})
FIELDS = ("title", "need", "understand", "concept", "pilot", "results", "decisions", "lessons", "other")
LESSON_FIELD = "lesson"  # one document per lesson record (services/lessons.py), not a field of the case
MAX_BODY = 100_000


@dataclass(frozen=True)
class Document:
    field: str
    body: str
    lesson_id: int | None = None


def _strings(value: Any) -> Iterable[str]:
    """The text inside a form value: strings, and the strings in lists and objects (table rows)."""
    if isinstance(value, str):
        if value.strip():
            yield value.strip()
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _strings(inner)


def documents_for(title: str, events: Sequence[tuple[str, str | None, Mapping[str, Any]]]) -> list[Document]:
    """The search documents of a case from its title and history.

    `events` are (kind, task_key, data) in the order they happened. A task submitted again
    (a revised need) replaces what it said before; different tasks add up, so every gate's
    reasons and both the evaluation's and the closure's lessons are kept.
    """
    latest: dict[tuple[str | None, str], Any] = {}
    for kind, task_key, data in events:
        if kind == "case_started":
            submitted = data.get("data") or {}
            task_key = "(start)"
        elif kind == "task_completed":
            submitted = data.get("data") or {}
        else:
            continue
        if not isinstance(submitted, Mapping):
            continue
        for key, value in submitted.items():
            if key in NOT_TEXT or isinstance(value, bool | int | float) or value is None:
                continue
            latest.pop((task_key, key), None)  # a resubmission moves to the end
            latest[(task_key, key)] = value
    parts: dict[str, list[str]] = {"title": [title]} if title.strip() else {}
    for (_task, key), value in latest.items():
        field = FIELD_OF.get(key, "other")
        for piece in _strings(value):
            if field == "other" and len(piece) < 3:
                continue
            bucket = parts.setdefault(field, [])
            if piece not in bucket:
                bucket.append(piece)
    return [Document(field, clean("\n".join(parts[field]))[:MAX_BODY]) for field in FIELDS if field in parts]


# What the documents are made of: a case's submissions in the order they happened (built once).
_SUBMISSIONS = (select(CaseEvent.kind, CaseEvent.task_key, CaseEvent.data)
                .where(CaseEvent.case_id == bindparam("case_id"),
                       CaseEvent.kind.in_(("case_started", "task_completed")))
                .order_by(CaseEvent.id))


def case_documents(session: Session | Connection, case_id: int, title: str | None = None,
                    secrecy: bool = True, lessons: bool = True) -> list[Document]:
    if title is None:
        title = session.execute(select(Case.title).where(Case.id == case_id)).scalar_one_or_none()
        if title is None:
            return []
    rows = session.execute(_SUBMISSIONS, {"case_id": case_id}).all()
    # Secret-marked fields (OSL) are never indexed, so no match or snippet can show them.
    secrecy = secrecy and case_facts.known(session, case_id, case_facts.SECRET_MARKED) is not False
    lessons = lessons and case_facts.known(session, case_id, case_facts.HAS_LESSONS) is not False
    secrets = secrets_of_case(session, case_id) if secrecy else None
    events = [(r[0], r[1], {**(r[2] or {}), "data": redact((r[2] or {}).get("data") or {}, secrets)})
              if secrets else (r[0], r[1], r[2] or {}) for r in rows]
    found = documents_for(title, events)
    return found + lesson_documents(session, case_id, secrecy) if lessons else found


def lesson_documents(session: Session | Connection, case_id: int, secrecy: bool = True) -> list[Document]:
    """One document per lesson of the case, of the parts that may be read city-wide (secret-marked
    fields are left out: a lesson is found by people who do not handle the case)."""
    rows = session.execute(select(Lesson.id, Lesson.worked, Lesson.not_worked, Lesson.reusable)
                           .where(Lesson.case_id == case_id).order_by(Lesson.id)).all()
    if not rows:
        return []
    parts = public_parts(secrets_of_case(session, case_id) if secrecy else NOTHING_SECRET)
    out = []
    for lesson_id, worked, not_worked, reusable in rows:
        texts = {"worked": worked, "not_worked": not_worked, "reusable": reusable}
        body = clean("\n".join(texts[p] for p in parts if texts[p]))[:MAX_BODY]
        if body:
            out.append(Document(LESSON_FIELD, body, lesson_id))
    return out


# SQLite's FTS5 rows of the documents (their rowids are the documents' ids), kept beside them.
_FTS_DROP = text("DELETE FROM search_fts WHERE rowid IN (SELECT value FROM json_each(:ids))")
_FTS_CHANGE = text("UPDATE search_fts SET sv = :sv, en = :en WHERE rowid = :id")
_FTS_ADD = text("INSERT INTO search_fts (rowid, sv, en) VALUES (:id, :sv, :en)")


def write_documents(session: Session | Connection, case_id: int, documents: Sequence[Document],
                    new_case: bool = False, lessons: bool = True) -> None:
    """Make a case's documents (and, on SQLite, their FTS5 rows) those of `documents`.

    Only what differs is written: a submission usually changes one field's text, so one
    document is updated and the others are left as they are. `new_case`: the case was
    created in this transaction, so it has no documents yet. `lessons`: False while migrating
    to a schema without lessons (before 0021 there is no lesson_id column).
    """
    sqlite = session.get_bind().dialect.name == "sqlite" if isinstance(session, Session) \
        else session.dialect.name == "sqlite"
    stored: dict[tuple[str, int | None], tuple[int, str]] = {}
    surplus: list[int] = []
    for doc_id, field, lesson_id, body in [] if new_case else session.execute(
            select(SearchDocument.id, SearchDocument.field,
                   SearchDocument.lesson_id if lessons else null(), SearchDocument.body)
            .where(SearchDocument.case_id == case_id).order_by(SearchDocument.id)).all():
        if (field, lesson_id) in stored:
            surplus.append(doc_id)  # one document per field (per lesson); an older duplicate goes
        else:
            stored[(field, lesson_id)] = (doc_id, body)
    wanted = {(doc.field, doc.lesson_id): doc.body for doc in documents}
    surplus += [doc_id for key, (doc_id, _body) in stored.items() if key not in wanted]
    if surplus:
        if sqlite:
            session.execute(_FTS_DROP, {"ids": json.dumps(surplus)})
        session.execute(delete(SearchDocument).where(SearchDocument.id.in_(surplus)))
    at = now()
    for (field, lesson_id), body in wanted.items():
        kept = stored.get((field, lesson_id))
        if kept is not None and kept[1] == body:
            continue
        if kept is not None:
            doc_id = kept[0]
            session.execute(update(SearchDocument).where(SearchDocument.id == doc_id)
                            .values(body=body, updated_at=at))
        else:
            values = {"case_id": case_id, "field": field, "body": body, "updated_at": at}
            if lesson_id is not None:
                values["lesson_id"] = lesson_id
            doc_id = session.execute(insert(SearchDocument).values(**values)
                                     .returning(SearchDocument.id)).scalar_one()
        if sqlite:
            sv, en = analysed(body)
            if kept is not None:
                session.execute(_FTS_CHANGE, {"id": doc_id, "sv": sv, "en": en})
            else:
                session.execute(_FTS_ADD, {"id": doc_id, "sv": sv, "en": en})


def refresh(tx: Any, case_id: int, title: str | None = None) -> None:
    """Bring one case's search documents in step with its data, in the caller's transaction
    (`title`: the case's title, when the caller holds it)."""
    tx.session.flush()
    write_documents(tx.session, case_id, case_documents(tx.session, case_id, title))


def index_new_case(tx: Any, case_id: int, title: str, start_data: Mapping[str, Any]) -> None:
    """The documents of a case started in this transaction: its title and what it was started with
    (its history holds nothing else yet, so it is not read back)."""
    tx.session.flush()
    write_documents(tx.session, case_id, documents_for(title, [("case_started", None, {"data": start_data})]),
                    new_case=True)


def fields_changed_by(submitted: Mapping[str, Any] | None) -> set[str]:
    """The documents (fields) whose text a submission (a task_completed event's data) can change:
    those of exactly the values `documents_for` reads, anything but numbers, flags, None and the
    NOT_TEXT codes. Even an empty text counts, since it replaces what the task said before."""
    if not isinstance(submitted, Mapping):
        return set()
    return {FIELD_OF.get(key, "other") for key, value in submitted.items()
            if key not in NOT_TEXT and not (isinstance(value, bool | int | float) or value is None)}


def refresh_after_completion(tx: Any, case: Any, submitted: Mapping[str, Any] | None, title_before: str) -> None:
    """Bring in step, after a task was completed with `submitted`, only the documents it can change:
    the title's when the title changed, and those of the fields it submitted text for. The others
    come out exactly as they are, so they are neither read nor compared; the history is read once, for
    what the changed fields now say. A submission with a lesson's texts may have recorded a lesson
    (lessons.record_for_completion), whose document is new: then every document is brought in step."""
    if isinstance(submitted, Mapping) and any(lesson_texts(submitted).values()):
        refresh(tx, case.id, case.title)
        return
    fields = fields_changed_by(submitted)
    if case.title != title_before:
        fields.add("title")
    if not fields:
        return
    tx.session.flush()
    found = {doc.field: doc.body for doc in case_documents(tx.session, case.id, case.title, lessons=False)}
    write_fields(tx.session, case.id, {field: found.get(field) for field in fields})


_DOCS = SearchDocument.__table__  # Core statements: the ORM adds nothing to these
_DOC = _DOCS.c
_IS_FIELD = and_(_DOC.case_id == bindparam("of_case"), _DOC.field == bindparam("of_field"), _DOC.lesson_id.is_(None))
_CHANGE_BODY = (update(_DOCS).where(_IS_FIELD, _DOC.body != bindparam("new_body"))
                .values(body=bindparam("new_body"), updated_at=bindparam("changed_at")).returning(_DOC.id))
_ADD_BODY_IF_MISSING = insert(_DOCS).from_select(
    ["case_id", "field", "body", "updated_at"],
    select(bindparam("of_case", type_=_DOC.case_id.type), bindparam("of_field", type_=_DOC.field.type),
           bindparam("new_body", type_=_DOC.body.type), bindparam("changed_at", type_=_DOC.updated_at.type))
    .where(~select(_DOC.id).where(_IS_FIELD).exists()))
_ADD_BODY = _ADD_BODY_IF_MISSING.returning(_DOC.id)
_DROP_BODY = delete(_DOCS).where(_IS_FIELD).returning(_DOC.id)
# PostgreSQL needs no ids back (its tsv column is generated), so the two go as one statement: the
# UPDATE as a data-modifying CTE, the INSERT only where the document is missing. Both see the table
# as it was before either, which is what the pair would have seen (the UPDATE adds no rows).
_SET_BODY = _ADD_BODY_IF_MISSING.add_cte(_CHANGE_BODY.cte("changed_body"))


def write_fields(session: Session, case_id: int, bodies: Mapping[str, str | None]) -> None:
    """Make these documents of a case (by field; None: the field has no text now) say what `bodies` say,
    and on SQLite their FTS5 rows. A document that already says it is not written: the UPDATE only
    touches a body that differs and returns what it changed, and only when it changed nothing is
    the document added if missing (one statement in the usual case, where the text changed; on
    PostgreSQL one statement always, `_SET_BODY`)."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    at = now()
    for field, body in bodies.items():
        params = {"of_case": case_id, "of_field": field, "new_body": body, "changed_at": at}
        if body is None:
            gone = list(session.execute(_DROP_BODY, params).scalars())
            if gone and sqlite:
                session.execute(_FTS_DROP, {"ids": json.dumps(gone)})
            continue
        if not sqlite:
            session.execute(_SET_BODY, params)
            continue
        changed = list(session.execute(_CHANGE_BODY, params).scalars())
        added = [] if changed else list(session.execute(_ADD_BODY, params).scalars())
        if changed or added:
            sv, en = analysed(body)
            for doc_id in changed:
                session.execute(_FTS_CHANGE, {"id": doc_id, "sv": sv, "en": en})
            for doc_id in added:
                session.execute(_FTS_ADD, {"id": doc_id, "sv": sv, "en": en})


def rebuild_on(connection: Session | Connection, batch: int = 500) -> int:
    """Index every case again; returns how many cases were indexed.

    Migration 0014 runs this before the secrecy markings' (0017) and the lessons' (0021) tables exist.
    """
    bind = connection.connection() if isinstance(connection, Session) else connection
    secrecy = inspect(bind).has_table(SecrecyMarking.__tablename__)
    lessons = inspect(bind).has_table("lesson")
    done = 0
    last = 0
    while True:
        ids = list(connection.execute(select(Case.id).where(Case.id > last).order_by(Case.id).limit(batch))
                   .scalars())
        if not ids:
            return done
        for case_id in ids:
            write_documents(connection, case_id, case_documents(connection, case_id, secrecy=secrecy,
                                                                 lessons=lessons), lessons=lessons)
        done += len(ids)
        last = ids[-1]


def rebuild(ctx: Any, actor: Actor) -> int:
    """`iphs-flow search reindex`: every case's documents rebuilt in one transaction (administrators)."""
    require_role(actor, ADMINISTRATOR, "rebuild the search index")
    with ctx.uow.write() as tx:
        count = rebuild_on(tx.session)
        tx.commit()
    return count

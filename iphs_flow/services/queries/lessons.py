"""The lessons library (Lärdomar): lessons listed and searched with facets, for every signed-in person.

A lesson is read city-wide unless a lead kept it internal; then only those who may see
its case (queries/search.py:visible_cases, the case pages' rule) read it. The case behind
a lesson keeps its own permissions: its number, title and link are given only to those
who may see it. Fields marked secret (services/secrecy.py) are left out of what others
read, and a lesson whose lesson fields are marked is not found by its words by them
(its search document may predate the marking).

Full text is the case search's: the same back ends (SQLite FTS5 over Snowball stems,
PostgreSQL's swedish and english tsvector) over each lesson's own search document, in one
pass that gives every readable matching lesson with its score and facet columns.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, exists, false, func, literal, or_, select, text, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.tables import Case, Lesson, SearchDocument, SecrecyMarking

from ..errors import InvalidInput, NotFound
from ..lessons import LESSON_KEYS, SOURCES, TEXT_KEYS, public_parts
from ..permissions import Actor
from ..secrecy import secrets_of
from ..text_analysis import parse_query
from .full_text import (
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    PostgresBackend,
    VisibleCases,
    backend_for,
    placeholder_query,
    read_visible_cases,
    visible_cases,
)

FACETS = ("goal", "unit", "stage", "outcome", "year", "source")
MAX_FACET_VALUES = 50


@dataclass(frozen=True)
class LessonView:
    id: int
    source: str  # evaluation | closure | rejection | stop
    round: int
    stage: int | None
    outcome: str
    unit: str | None
    goals: tuple[int, ...]
    year: int
    worked: str | None
    not_worked: str | None
    reusable: str | None
    author: str
    at: datetime
    internal: bool
    internal_reason: str | None  # only to those who may see the case
    case_id: int | None  # None: the reader may not see the case
    case_number: str | None
    case_title: str | None
    withheld: bool = False  # a part was left out: it is marked secret
    snippet: str | None = None  # HTML-safe, matches in <mark> (a text search)
    score: float | None = None


@dataclass(frozen=True)
class LessonPage:
    query: str | None
    total: int
    items: list[LessonView]
    offset: int
    limit: int
    next_cursor: str | None
    facets: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class LessonFilters:
    goal: int | None = None
    unit: str | None = None
    stage: int | None = None
    outcome: str | None = None
    year: int | None = None
    source: str | None = None
    case_id: int | None = None


# ---------------------------------------------------------------- cursors


def _cursor(kind: str, value: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[str, int]:
    try:
        kind, _sep, value = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if kind in ("after", "offset") and value.isdigit() and len(value) < 19:
            return kind, int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidInput("the cursor is not one this list gave", {"cursor": ["not a cursor of this list"]})


# ---------------------------------------------------------------- rules as SQL


def _goal_rule(session: Session, goal: int) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return text("CAST(lesson.goals AS jsonb) @> CAST(:goal_json AS jsonb)").bindparams(goal_json=f"[{goal}]")
    return text("EXISTS (SELECT 1 FROM json_each(lesson.goals) WHERE json_each.value = :goal_value)").bindparams(
        goal_value=goal)


def _filter_rules(session: Session, filters: LessonFilters) -> list[Any]:
    where: list[Any] = []
    if filters.goal is not None:
        where.append(_goal_rule(session, filters.goal))
    for column, value in ((Lesson.unit, filters.unit), (Lesson.stage, filters.stage),
                          (Lesson.outcome, filters.outcome), (Lesson.year, filters.year),
                          (Lesson.source, filters.source), (Lesson.case_id, filters.case_id)):
        if value is not None:
            where.append(column == value)
    return where


def _check(q: str | None, filters: LessonFilters, limit: int, offset: int) -> None:
    if q is not None and len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the search text may be at most {MAX_QUERY_CHARS} characters",
                           {"q": [f"at most {MAX_QUERY_CHARS} characters"]})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", {"limit": [f"1 to {MAX_LIMIT}"]})
    if not 0 <= offset <= 10_000:
        raise InvalidInput("offset must be between 0 and 10000", {"offset": ["0 to 10000"]})
    if filters.goal is not None and not 1 <= filters.goal <= 17:
        raise InvalidInput("an Agenda 2030 goal is 1 to 17", {"goal": ["1 to 17"]})
    if filters.source is not None and filters.source not in SOURCES:
        raise InvalidInput("unknown source of a lesson", {"source": [f"one of {', '.join(SOURCES)}"]})


# ---------------------------------------------------------------- the list


def readable_rules(session: Session, actor: Actor, *, by_words: bool, visible: VisibleCases | None = None) -> list[Any]:
    """Which lessons the actor reads, as WHERE clauses over `Lesson`: every city-wide lesson, and
    the internal ones of cases the actor may see. Found `by_words`, a lesson whose lesson fields
    are marked secret only by those who may see its case (its search document may hold words
    from before the marking). `visible`: the actor's cases, when the caller has read them."""
    if actor.sees_all_cases:
        return []
    visible = visible or read_visible_cases(session, actor)
    if by_words:
        return [readable_by_words(visible)]
    return [or_(Lesson.internal == false(), visible.contains(Lesson.case_id))]


def readable_by_words(visible: VisibleCases) -> ColumnElement[bool]:
    """`readable_rules` by words for someone who does not see every case: a lesson of a case they
    may see, or one that is city-wide and has no secret-marked lesson field."""
    unmarked = ~exists().where(SecrecyMarking.case_id == Lesson.case_id, SecrecyMarking.target_kind == "field",
                               SecrecyMarking.target.in_(LESSON_KEYS))
    return or_(and_(Lesson.internal == false(), unmarked), visible.contains(Lesson.case_id))


def views_by_id(session: Session, actor: Actor, backend: Any, query: Any,
                found: list[tuple[int, int, float]], visible: VisibleCases | None = None) -> list[LessonView]:
    """Lessons (id, search document, score), in that order, as the actor may read them, with snippets
    (the case search's lesson hits)."""
    visible = visible or read_visible_cases(session, actor)
    may_see = visible.contains(Lesson.case_id) if not visible.all else literal(True)
    return _found_views(session, backend, query, found, may_see)


def _found_views(session: Session, backend: Any, query: Any, found: list[tuple[int, int, float]],
                 may_see: Any) -> list[LessonView]:
    """The lessons (id, search document, score) found by words, in that order, with their snippets."""
    if not found:
        return []
    body = backend.snippet_column(query, SearchDocument.body, every_word=True)
    rows = {r[0].id: r for r in session.execute(
        select(Lesson, Case.number, Case.title, may_see.label("may_see"), body)
        .join(Case, Case.id == Lesson.case_id).join(SearchDocument, SearchDocument.lesson_id == Lesson.id)
        .where(Lesson.id.in_([f[0] for f in found]), SearchDocument.id.in_([f[1] for f in found])))}
    ordered = [rows[f[0]] for f in found if f[0] in rows]
    return _views(session, ordered, {f[0]: (backend.snippet(rows[f[0]][4], query), f[2])
                                     for f in found if f[0] in rows})


def list_lessons(ctx: AppContext, actor: Actor, *, q: str | None = None, filters: LessonFilters | None = None,
                 limit: int = 20, offset: int = 0, cursor: str | None = None,
                 with_facets: bool = True) -> LessonPage:
    """Lessons the actor may read, newest first, or best first for words `q`; with facet counts.

    Paged by `offset` (pages) or by `cursor` (the API: the `next_cursor` of the page before).
    """
    filters = filters or LessonFilters()
    q = (q or "").strip() or None
    _check(q, filters, limit, offset)
    after = None
    if cursor:
        kind, value = _read_cursor(cursor)
        if kind == "after" and q is None:
            after = value
        elif kind == "offset" and q is not None and value <= 10_000:
            offset = value
        else:
            raise InvalidInput("the cursor is not one this list gave", {"cursor": ["not a cursor of this list"]})
    query = parse_query(q) if q else None
    if query is not None and query.empty:
        raise InvalidInput("write at least one word to search for", {"q": ["write at least one word"]})
    with ctx.uow.read() as tx:
        session = tx.session
        visible = read_visible_cases(session, actor)
        where = [*readable_rules(session, actor, by_words=query is not None, visible=visible),
                 *_filter_rules(session, filters)]
        may_see = visible.contains(Lesson.case_id) if not visible.all else literal(True)
        if query is None:
            base = select(Lesson.id).select_from(Lesson).where(*where)
            total, facets = _facets(session, base, with_facets)
            page_where = [*where, Lesson.id < after] if after is not None else where
            rows = session.execute(
                select(Lesson, Case.number, Case.title, may_see.label("may_see"))
                .join(Case, Case.id == Lesson.case_id).where(*page_where)
                .order_by(Lesson.id.desc()).limit(limit + 1)  # one more: is there a next page?
                .offset(offset if after is None else 0)).all()
            more = len(rows) > limit
            rows = rows[:limit]
            items = _views(session, rows, {})
            next_cursor = _cursor("after", rows[-1][0].id) if more else None
            return LessonPage(None, total, items, offset if after is None else 0, limit, next_cursor, facets)
        backend = backend_for(session)
        backend.prepare(session)
        postgresql = session.get_bind().dialect.name == "postgresql"
        chosen = _filter_values(filters, postgresql)
        params = {**backend.query_params(query, every_word=True), **chosen}
        if not visible.all:
            params["visible_cases"] = visible.ids
        found = session.execute(_library_statement(type(backend), visible.all, tuple(sorted(chosen)),
                                                   len(query.words)), params).all()
        total, facets = len(found), (_count_facets([r[3:] for r in found]) if with_facets else {})
        best = sorted(found, key=lambda r: (-r[2], -r[0]))[offset:offset + limit]
        items = _found_views(session, backend, query, [(r[0], r[1], float(r[2])) for r in best], may_see)
        next_cursor = _cursor("offset", offset + limit) if offset + len(items) < total and len(items) == limit \
            else None
        return LessonPage(q, total, items, offset, limit, next_cursor, facets)


_FACET_COLUMNS = (Lesson.goals, Lesson.unit, Lesson.stage, Lesson.outcome, Lesson.year, Lesson.source)
_FILTER_COLUMNS = {"lf_unit": Lesson.unit, "lf_stage": Lesson.stage, "lf_outcome": Lesson.outcome,
                   "lf_year": Lesson.year, "lf_source": Lesson.source, "lf_case": Lesson.case_id}


def _filter_values(filters: LessonFilters, postgresql: bool) -> dict[str, Any]:
    """The filters chosen, by the names `_library_statement` binds them by."""
    values = {"lf_unit": filters.unit, "lf_stage": filters.stage, "lf_outcome": filters.outcome,
              "lf_year": filters.year, "lf_source": filters.source, "lf_case": filters.case_id,
              "lf_goal": None if filters.goal is None else (f"[{filters.goal}]" if postgresql else filters.goal)}
    return {name: value for name, value in values.items() if value is not None}


@lru_cache(maxsize=256)
def _library_statement(backend_class: type, see_all: bool, filters: tuple[str, ...], words: int) -> Any:
    """The library's search of this shape, built once; its values are bound when it runs. One pass of
    the full-text index: every readable matching lesson with its score and the columns the facets
    count; the page is the best of them."""
    backend = backend_class()
    postgresql = backend_class is PostgresBackend
    m = backend.matches(placeholder_query(words), every_word=True,
                        where=lambda doc: doc.lesson_id.isnot(None)).subquery("m")
    where: list[Any] = [] if see_all else [readable_by_words(VisibleCases("", postgresql))]
    for name in filters:
        if name == "lf_goal":
            where.append(text("CAST(lesson.goals AS jsonb) @> CAST(:lf_goal AS jsonb)") if postgresql else
                         text("EXISTS (SELECT 1 FROM json_each(lesson.goals) WHERE json_each.value = :lf_goal)"))
        else:
            where.append(_FILTER_COLUMNS[name] == bindparam(name))
    return (select(Lesson.id, m.c.doc_id, m.c.score, *_FACET_COLUMNS)
            .join_from(m, Lesson, Lesson.id == m.c.lesson_id).where(*where))


def _facets(session: Session, base: Any, wanted: bool) -> tuple[int, dict[str, list[tuple[Any, int]]]]:
    """How many lessons `base` selects, and how many per goal, unit, stage, outcome, year and source."""
    ids = base.subquery()
    if not wanted:
        return int(session.execute(select(func.count()).select_from(ids)).scalar_one()), {}
    rows = session.execute(select(*_FACET_COLUMNS).join(ids, ids.c.id == Lesson.id)).all()
    return len(rows), _count_facets(rows)


def _count_facets(rows: Any) -> dict[str, list[tuple[Any, int]]]:
    """Lessons per goal, unit, stage, outcome, year and source, of rows of `_FACET_COLUMNS`."""
    counts: dict[str, dict[Any, int]] = {name: {} for name in FACETS}
    for goals, unit, stage, outcome, year, source in rows:
        for goal in goals or []:
            counts["goal"][goal] = counts["goal"].get(goal, 0) + 1
        for name, value in (("unit", unit), ("stage", stage), ("outcome", outcome), ("year", year),
                            ("source", source)):
            if value is not None:
                counts[name][value] = counts[name].get(value, 0) + 1
    return {
        "goal": sorted(counts["goal"].items()),
        "unit": sorted(counts["unit"].items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_FACET_VALUES],
        "stage": sorted(counts["stage"].items()),
        "outcome": sorted(counts["outcome"].items(), key=lambda kv: (-kv[1], kv[0])),
        "year": sorted(counts["year"].items(), reverse=True),
        "source": sorted(counts["source"].items(), key=lambda kv: SOURCES.index(kv[0]) if kv[0] in SOURCES else 9),
    }


def _views(session: Session, rows: Any, found: dict[int, tuple[str, float]]) -> list[LessonView]:
    """Lesson rows as the reader may read them: the case's name and link, the internal reason and
    secret-marked parts only for those who may see the case."""
    hidden_cases = [r[0].case_id for r in rows if not r[3]]
    secrets = secrets_of(session, hidden_cases) if hidden_cases else {}
    out = []
    for row in rows:
        lesson, number, title, may_see = row[0], row[1], row[2], bool(row[3])
        texts = {"worked": lesson.worked, "not_worked": lesson.not_worked, "reusable": lesson.reusable}
        withheld = False
        if not may_see:
            parts = public_parts(secrets[lesson.case_id])
            for part in TEXT_KEYS:
                if part not in parts and texts[part]:
                    texts[part] = None
                    withheld = True
        snippet, score = found.get(lesson.id, (None, None))
        out.append(LessonView(
            lesson.id, lesson.source, lesson.round, lesson.stage, lesson.outcome, lesson.unit,
            tuple(g for g in (lesson.goals or []) if isinstance(g, int)), lesson.year, texts["worked"],
            texts["not_worked"], texts["reusable"], lesson.author if may_see else "", lesson.at, lesson.internal,
            lesson.internal_reason if may_see else None, lesson.case_id if may_see else None,
            number if may_see else None, title if may_see else None, withheld,
            snippet if (may_see or not withheld) else None, score))
    return out


def get_lesson(ctx: AppContext, lesson_id: int, actor: Actor) -> LessonView:
    """One lesson as the actor may read it; NotFound when it does not exist or is internal to a case
    the actor may not see (alike)."""
    with ctx.uow.read() as tx:
        session = tx.session
        visible = visible_cases(session, actor) if not actor.sees_all_cases else true()
        row = session.execute(
            select(Lesson, Case.number, Case.title, visible.label("may_see"))
            .join(Case, Case.id == Lesson.case_id)
            .where(Lesson.id == lesson_id, or_(Lesson.internal == false(), visible))).first()
        if row is None:
            raise NotFound(f"no lesson {lesson_id}")
        return _views(session, [row], {})[0]


def lessons_of_cases(session: Session, case_ids: list[int]) -> dict[int, list[Lesson]]:
    """The lessons of cases the reader may see (similar cases), newest first."""
    if not case_ids:
        return {}
    found: dict[int, list[Lesson]] = {}
    for lesson in session.scalars(select(Lesson).where(and_(Lesson.case_id.in_(case_ids)))
                                  .order_by(Lesson.id.desc())):
        found.setdefault(lesson.case_id, []).append(lesson)
    return found

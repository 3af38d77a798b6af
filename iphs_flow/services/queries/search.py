"""Search across cases and similar cases: one interface, two back ends (PostgreSQL, SQLite FTS5).

Both read `search_document` (kept in step by services/search_index.py) through the back ends of
queries/full_text.py, shared with the lessons library. PostgreSQL
matches its generated tsvector (swedish and english configurations) with `@@`, ranks
with `ts_rank` and cuts snippets with `ts_headline`; SQLite matches the Snowball stems
in the FTS5 table `search_fts`, ranks with `bm25()` and cuts snippets in Python by the
same stems. Results are one row per case, filtered in SQL by the rule of the case pages
(services/permissions.py): a case the actor may not see is never a hit and never counted.

Speed (bench/search.py): the reader's cases are read once and handed to the statement as
one value; one statement per search reads the matches once, ranks only what counts (never a
document of a case the reader may not see) and counts the facets exactly, from the status and
stage of its case that each document carries (migration 0027), so no case is read. Ranking on SQLite
is bm25 in the FTS5 pass, exact over every match. PostgreSQL's ts_rank reads each document's
tsvector, so there the CANDIDATES cases whose matching fields weigh most are ranked and come
first, the others after them by weight (which differs only for a word in thousands of cases).
The statements are built once per shape and bound when they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from iphs_flow.bootstrap import AppContext
from iphs_flow.services.errors import InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.services.search_index import FIELDS
from iphs_flow.services.text_analysis import Query, parse_query
from iphs_flow.services.visibility import visible_case
from iphs_flow.store.tables import (
    Case,
    CaseEvent,
    Lesson,
    SearchDocument,
)

from .full_text import (
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    Backend,
    DocColumns,
    PostgresBackend,
    RanksCandidates,
    VisibleCases,
    backend_for,
    placeholder_query,
    read_visible_cases,
    weight_of,
)
from .lessons import lessons_of_cases, readable_by_words, views_by_id

CASE_STATUSES = ("running", "suspended", "incident", "completed", "terminated")
SIMILAR_FIELDS = ("title", "need")


@dataclass(frozen=True)
class SearchHit:
    case_id: int
    number: str
    title: str
    status: str
    stage: int | None
    process_key: str
    field: str  # where the best match is
    snippet: str  # HTML-safe: case text escaped, matches in <mark>
    score: float


@dataclass(frozen=True)
class SearchResults:
    query: str
    total: int  # matching cases the actor may see
    hits: list[SearchHit]
    offset: int
    limit: int
    facets: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)  # status, stage, field -> (value, cases)
    # Lessons are hits of their own kind (queries/lessons.py): read city-wide, so counted apart.
    lessons: list[Any] = field(default_factory=list)
    lesson_total: int = 0


@dataclass(frozen=True)
class SimilarCase:
    case_id: int
    number: str
    title: str
    status: str
    stage: int | None
    outcome: str | None  # the last gate decision (approved, rejected, ...), None before any
    lessons: str | None
    snippet: str
    score: float


# ---------------------------------------------------------------- search


def _check(text_: str, limit: int, offset: int) -> None:
    if not isinstance(text_, str) or len(text_) > MAX_QUERY_CHARS:
        raise InvalidInput(f"the search text may be at most {MAX_QUERY_CHARS} characters",
                           {"q": [f"at most {MAX_QUERY_CHARS} characters"]})
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", {"limit": [f"1 to {MAX_LIMIT}"]})
    if offset < 0 or offset > 10_000:
        raise InvalidInput("offset must be between 0 and 10000", {"offset": ["0 to 10000"]})


def search(ctx: AppContext, text_: str, actor: Actor, *, status: str | None = None, stage: int | None = None,
           field_: str | None = None, process: str | None = None, limit: int = 20, offset: int = 0) -> SearchResults:
    """Cases whose documents contain every word (in any of its forms), best first, with snippets.

    Facets count the matching cases per status, stage and field, among those the actor may see.
    """
    _check(text_, limit, offset)
    if status is not None and status not in CASE_STATUSES:
        raise InvalidInput("unknown case status", {"status": [f"one of {', '.join(CASE_STATUSES)}"]})
    if field_ is not None and field_ not in FIELDS:
        raise InvalidInput("unknown field", {"field": [f"one of {', '.join(FIELDS)}"]})
    query = parse_query(text_)
    if query.empty:
        raise InvalidInput("write at least one word to search for", {"q": ["write at least one word"]})
    with ctx.uow.read() as tx:
        session = tx.session
        backend = backend_for(session)
        backend.prepare(session)
        visible = read_visible_cases(session, actor)
        want_lessons = field_ in (None, "lessons")
        filters = {"field_value": field_, "status_value": status, "stage_value": stage, "process_value": process}
        statement = _search_statement(type(backend), visible.all, want_lessons,
                                      tuple(name for name, value in filters.items() if value is not None),
                                      len(query.words))
        params = {**backend.query_params(query, every_word=True), "page_limit": limit, "page_offset": offset,
                  **{name: value for name, value in filters.items() if value is not None}}
        if not visible.all:
            params["visible_cases"] = visible.ids
        found = session.execute(statement, params).all()
        statuses: dict[str, int] = {}
        stages: dict[int | None, int] = {}
        per_field: list[tuple[str, int]] = []
        page: list[tuple[int, int, float]] = []  # (case id, best document, score), best first
        lesson_total, lesson_rows = 0, []
        for kind, word, n1, n2, score in found:
            if kind == "ss":
                statuses[word] = statuses.get(word, 0) + int(n2)
                stages[n1] = stages.get(n1, 0) + int(n2)
            elif kind == "f":
                per_field.append((word, int(n2)))
            elif kind == "top":
                page.append((int(n1), int(n2), float(score)))
            elif kind == "lc":
                lesson_total = int(n2)
            else:
                lesson_rows.append((int(n1), int(n2), float(score)))
        facets = {
            "status": sorted(statuses.items(), key=lambda kv: (-kv[1], kv[0])),
            "stage": sorted(stages.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)),
            "field": sorted(per_field, key=lambda kv: FIELDS.index(kv[0]) if kv[0] in FIELDS else len(FIELDS)),
        }
        total = sum(statuses.values())
        lessons: list[Any] = []
        if lesson_rows:
            lessons = views_by_id(session, actor, backend, query, lesson_rows, visible)
        shown = {}
        if page:  # the page's cases, each with the field and snippet of its best document
            doc = SearchDocument.__table__.c
            shown = {r[0]: r for r in session.execute(
                select(doc.id, doc.field, backend.snippet_column(query, doc.body, every_word=True), Case.number,
                       Case.title, Case.status, Case.stage, Case.process_key)
                .join_from(SearchDocument.__table__, Case.__table__, Case.__table__.c.id == doc.case_id)
                .where(doc.id.in_([d for _c, d, _s in page])))}
    hits = [SearchHit(case_id, shown[doc_id][3], shown[doc_id][4], shown[doc_id][5], shown[doc_id][6],
                      shown[doc_id][7], shown[doc_id][1], backend.snippet(shown[doc_id][2], query), score)
            for case_id, doc_id, score in page if doc_id in shown]
    return SearchResults(text_, total, hits, offset, limit, facets, lessons, lesson_total)


@lru_cache(maxsize=512)
def _search_statement(backend_class: type, see_all: bool, want_lessons: bool, filters: tuple[str, ...],
                      words: int) -> Any:
    """The statement of a search of this shape, built once (building it costs more than running a
    small one); its values are bound when it runs (`search`).

    One statement, the matches read once (a materialised CTE m) with their cases' status and
    stage (which each document carries), and only those that count: the documents of cases the
    actor may see (of the field, status and stage asked for) and the lessons' own (read
    city-wide). The database sums the scores per case, counts the facets, and hands over only the
    page's cases and the best lessons, with their count. Only a search of one process reads the
    matching cases themselves, for their process.
    """
    backend: Backend = backend_class()
    query = placeholder_query(words)
    visible = VisibleCases(None if see_all else "", postgresql=backend_class is PostgresBackend)

    def counted(doc: DocColumns) -> ColumnElement[bool]:
        rules: list[ColumnElement[bool]] = [doc.lesson_id.is_(None)]
        if not visible.all:
            rules.append(visible.contains(doc.case_id))
        if "field_value" in filters:
            rules.append(doc.field == bindparam("field_value"))
        if "status_value" in filters:
            rules.append(doc.status == bindparam("status_value"))
        if "stage_value" in filters:
            rules.append(doc.stage == bindparam("stage_value"))
        return or_(doc.lesson_id.isnot(None), and_(*rules)) if want_lessons else and_(*rules)

    in_index = backend.ranks_in_index
    unfiltered = visible.all and want_lessons and not {"field_value", "status_value", "stage_value"} & set(filters)
    m = backend.matches(query, every_word=True, where=None if unfiltered else counted, ranked=in_index,
                        with_case=True)
    m = m.cte("m").prefix_with("MATERIALIZED")
    case_doc = m.c.case_doc
    # Per case: the score summed over its documents, or (where ranking is costly) how much its
    # matching fields weigh together, which picks the candidates that are ranked; and its status
    # and stage, the same in each of its documents.
    if in_index:
        per_case = [func.sum(m.c.score * weight_of(m.c.field)).label("s"),
                    *backend.best_doc(m.c.score * weight_of(m.c.field), m.c.doc_id)]
    else:  # the candidates' best documents are found when they are ranked; any other shows its first
        per_case = [func.sum(weight_of(m.c.field)).label("s"), func.min(m.c.doc_id).label("doc_id")]
    pc = (select(m.c.case_id, *per_case, m.c.status, m.c.stage).where(case_doc)
          .group_by(m.c.case_id, m.c.status, m.c.stage))
    case_rules = []
    if "process_value" in filters:  # the process is the case's own: each matching case is read for it
        found = pc.subquery("found")
        cases = Case.__table__.c
        case_rules = [cases.process_key == bindparam("process_value")]
        pc = select(*found.c).join_from(found, Case.__table__, cases.id == found.c.case_id).where(*case_rules)
    pc = pc.cte("pc").prefix_with("MATERIALIZED")
    if in_index:
        top = select(pc.c.case_id, pc.c.doc_id, pc.c.s).order_by(pc.c.s.desc(), pc.c.case_id.desc())
    else:
        top = _ranked_candidates(backend, query, m, pc)
    top = top.limit(bindparam("page_limit", type_=Integer)).offset(bindparam("page_offset", type_=Integer))
    top = top.subquery("top")
    in_cases = [m.c.case_id.in_(select(pc.c.case_id))] if case_rules else []
    # The cases per field: each (field, case) once, then counted (hashed; a count of distinct
    # cases is sorted).
    per_field = select(m.c.field, m.c.case_id).where(case_doc, *in_cases).distinct().subquery("fd")
    parts = [
        select(literal("ss").label("kind"), pc.c.status.label("word"), pc.c.stage.label("n1"),
               func.count().label("n2"), cast(null(), Float).label("score"))
        .group_by(pc.c.status, pc.c.stage),
        select(literal("f"), per_field.c.field, cast(null(), Integer), func.count(), cast(null(), Float))
        .group_by(per_field.c.field),
        select(literal("top"), cast(null(), String), top.c.case_id, top.c.doc_id, top.c.s),
    ]
    if want_lessons:
        lv = select(m.c.doc_id, m.c.lesson_id, m.c.score).where(~case_doc)
        if not visible.all:
            lv = lv.join_from(m, Lesson, Lesson.id == m.c.lesson_id).where(readable_by_words(visible))
        lv = lv.cte("lv").prefix_with("MATERIALIZED")
        if in_index:
            best_lessons = select(lv.c.lesson_id, lv.c.doc_id, lv.c.score)
        else:  # the LESSON_CANDIDATES newest readable matching lessons are ranked
            newest = (select(lv.c.lesson_id, lv.c.doc_id).order_by(lv.c.lesson_id.desc())
                      .limit(LESSON_CANDIDATES).subquery("newest"))
            best_lessons = backend.rank(query, newest, every_word=True)
        best_lessons = best_lessons.subquery("bl")
        parts += [
            select(literal("lc"), cast(null(), String), cast(null(), Integer), func.count(), cast(null(), Float))
            .select_from(lv),
            select(literal("lt"), cast(null(), String), best_lessons.c.lesson_id, best_lessons.c.doc_id,
                   best_lessons.c.score)
            .order_by(best_lessons.c.score.desc(), best_lessons.c.lesson_id.desc()).limit(LESSON_HITS)
            .subquery().select(),
        ]
    return union_all(*parts)


def _ranked_candidates(backend: RanksCandidates, query: Query, m: Any, pc: Any) -> Any:
    """The cases in order where ranking reads each document (PostgreSQL): the CANDIDATES cases
    whose matching fields weigh most (the newest among equals) are ranked and come first, best
    first; any further cases follow by weight. The candidates do not depend on the page, so
    whoever pages on sees every case once."""
    candidates = (select(pc.c.case_id).order_by(pc.c.s.desc(), pc.c.case_id.desc()).limit(CANDIDATES)
                  .cte("cand").prefix_with("MATERIALIZED"))
    chosen = (select(m.c.doc_id, m.c.case_id, weight_of(m.c.field).label("fw"))
              .where(m.c.case_doc, m.c.case_id.in_(select(candidates.c.case_id)))
              .cte("cd").prefix_with("MATERIALIZED"))
    ranks = backend.rank(query, chosen, every_word=True).subquery("rk")
    scored = select(ranks.c.case_id, (ranks.c.score * ranks.c.fw).label("w"), ranks.c.doc_id).subquery("sc")
    ranked = (select(literal(0).label("tier"), scored.c.case_id, func.sum(scored.c.w).label("s"),
                     *backend.best_doc(scored.c.w, scored.c.doc_id))
              .group_by(scored.c.case_id))
    rest = (select(literal(1).label("tier"), pc.c.case_id, pc.c.s, pc.c.doc_id)
            .where(pc.c.case_id.notin_(select(candidates.c.case_id))))
    both = union_all(ranked, rest).subquery("both")  # (tier, case_id, s, doc_id) both
    return (select(both.c.case_id, both.c.doc_id, case((both.c.tier == 0, both.c.s), else_=0.0).label("s"))
            .order_by(both.c.tier, both.c.s.desc(), both.c.case_id.desc()))


LESSON_HITS = 5
CANDIDATES = 500  # cases ranked where ranking reads each document (PostgreSQL); the rest follow by weight
LESSON_CANDIDATES = 200  # there, the newest matching lessons of which the best are shown beside the cases


# ---------------------------------------------------------------- similar cases


def similar_cases(ctx: AppContext, text_: str, actor: Actor, limit: int = 5, *,
                  exclude_case_id: int | None = None) -> list[SimilarCase]:
    """The cases whose title and need are most like `text_` (a need being described), best first.

    Ranked by BM25 (SQLite) or ts_rank (PostgreSQL) over the stems of the text's words,
    summed over the title and need of each case; only cases the actor may see, never the
    case being described itself. Each comes with its status, the last gate decision and
    its lessons learned.
    """
    _check(text_, limit, 0)
    query = parse_query(text_, drop_stop_words=True)
    if query.empty:
        return []
    with ctx.uow.read() as tx:
        session = tx.session
        backend = backend_for(session)
        backend.prepare(session)
        query = backend.informative(session, query)
        if query.empty:
            return []
        visible = read_visible_cases(session, actor)
        statement = _similar_statement(type(backend), visible.all, exclude_case_id is not None, len(query.words),
                                       query.lexemes)
        params: dict[str, Any] = {**backend.query_params(query, every_word=False), "similar_limit": limit}
        if not visible.all:
            params["visible_cases"] = visible.ids
        if exclude_case_id is not None:
            params["exclude_case"] = exclude_case_id
        rows = session.execute(statement, params).all()
        if not rows:
            return []
        ids = [r.case_id for r in rows]
        # The cases with the snippet of their need and the lessons document of their case, at once.
        need, told = SearchDocument.__table__.alias("need"), SearchDocument.__table__.alias("told")
        cases_ = Case.__table__.c
        described = {r[0]: r for r in session.execute(
            select(cases_.id, cases_.number, cases_.title, cases_.status, cases_.stage,
                   backend.snippet_column(query, need.c.body, every_word=False), told.c.body)
            .select_from(Case.__table__
                         .outerjoin(need, and_(need.c.case_id == cases_.id, need.c.field == "need",
                                               need.c.lesson_id.is_(None)))
                         .outerjoin(told, and_(told.c.case_id == cases_.id, told.c.field == "lessons",
                                               told.c.lesson_id.is_(None))))
            .where(cases_.id.in_(ids)))}
        # Lessons written before they were records of their own are in the case's lessons document.
        lessons = {case_id: _lesson_text(found) for case_id, found in _lessons_of(session, ids).items()}
        outcomes = _outcomes(session, ids)
    out = []
    for r in rows:
        c = described[r.case_id]
        lesson = lessons[r.case_id] if r.case_id in lessons else c[6]
        out.append(SimilarCase(c[0], c[1], c[2], c[3], c[4], outcomes.get(c[0]),
                               (lesson[:400] + "…") if lesson and len(lesson) > 400 else lesson,
                               backend.snippet(c[5], query) if c[5] is not None else "", float(r.score)))
    return out


@lru_cache(maxsize=256)
def _similar_statement(backend_class: type, see_all: bool, excluding: bool, words: int, lexemes: bool) -> Any:
    """The statement of similar cases of this shape, built once; its values are bound when it runs.

    Only the title and need of other cases the actor may see are ranked, summed per case."""
    backend: Backend = backend_class()
    names = placeholder_query(words)
    query = Query(names.words, names.sv, names.en, lexemes=lexemes)
    visible = VisibleCases(None if see_all else "", postgresql=backend_class is PostgresBackend)

    def compared(doc: DocColumns) -> ColumnElement[bool]:
        rule = and_(doc.lesson_id.is_(None), doc.field.in_(SIMILAR_FIELDS))
        if not visible.all:
            rule = and_(rule, visible.contains(doc.case_id))
        if excluding:
            rule = and_(rule, doc.case_id != bindparam("exclude_case", type_=Integer))
        return rule

    m = backend.matches(query, every_word=False, where=compared).subquery("m")
    return (select(m.c.case_id, func.sum(m.c.score * weight_of(m.c.field)).label("score"))
            .group_by(m.c.case_id).order_by(literal_column("score").desc(), m.c.case_id.desc())
            .limit(bindparam("similar_limit", type_=Integer)))


def _lessons_of(session: Session, case_ids: list[int]) -> dict[int, list[Any]]:
    return lessons_of_cases(session, case_ids)


def _lesson_text(lessons: list[Any]) -> str | None:
    """What the case's lessons say, newest first: what others can reuse, what worked, what did not."""
    parts = []
    for lesson in lessons:
        for piece in (lesson.reusable, lesson.worked, lesson.not_worked):
            if piece and piece not in parts:
                parts.append(piece)
    return " · ".join(parts) or None


def _outcomes(session: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """The last decision recorded for each case (a gate's or the unit manager's)."""
    found: dict[int, str] = {}
    rows = session.execute(select(CaseEvent.case_id, CaseEvent.data).where(
        CaseEvent.case_id.in_(list(case_ids)), CaseEvent.kind == "task_completed").order_by(CaseEvent.id)).all()
    for case_id, data in rows:
        decision = ((data or {}).get("data") or {}).get("decision")
        if isinstance(decision, str) and decision:
            found[case_id] = decision
    return found


def similar_to_case(ctx: AppContext, case_id: int, actor: Actor, limit: int = 5) -> list[SimilarCase]:
    """The cases most like this one's title and need (the G1 decision brief), for those who may see it."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_id, actor)
        found_id, title = case.id, case.title
        bodies = tx.session.scalars(select(SearchDocument.body).where(
            SearchDocument.case_id == found_id, SearchDocument.field.in_(SIMILAR_FIELDS))).all()
    described = " ".join(bodies)[:MAX_QUERY_CHARS] or title[:MAX_QUERY_CHARS]
    return similar_cases(ctx, described, actor, limit, exclude_case_id=found_id)

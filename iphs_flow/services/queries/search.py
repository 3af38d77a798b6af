"""Search across cases and similar cases: one interface, two back ends (PostgreSQL, SQLite FTS5).

Both read `search_document` (kept in step by services/search_index.py). PostgreSQL
matches its generated tsvector (swedish and english configurations) with `@@`, ranks
with `ts_rank_cd` and cuts snippets with `ts_headline`; SQLite matches the Snowball stems
in the FTS5 table `search_fts`, ranks with `bm25()` and cuts snippets in Python by the
same stems. Results are one row per case, filtered in SQL by the rule of the case pages
(services/permissions.py): a case the actor may not see is never a hit and never counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from iphs_flow.bootstrap import AppContext
from iphs_flow.services.errors import InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.services.search_index import FIELDS
from iphs_flow.services.text_analysis import MARK_END, MARK_START, Query, highlight, marked_to_html, parse_query
from iphs_flow.store.tables import (
    Case,
    CaseEvent,
    GroupMember,
    HumanTask,
    Lesson,
    SearchDocument,
    UserAccount,
    UserGroup,
)

MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
CASE_STATUSES = ("running", "suspended", "incident", "completed", "terminated")
# A title says most about a case, the need and lessons next; other fields count once.
FIELD_WEIGHT = {"title": 3.0, "need": 1.5, "lessons": 1.5}
SIMILAR_FIELDS = ("title", "need")
SIMILAR_TERMS = 10  # a need is matched on its rarest words
COMMON_SHARE = 0.04  # words in more documents than this say little about which need it is


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


# ---------------------------------------------------------------- visibility


def visible_cases(session: Session, actor: Actor) -> ColumnElement[bool]:
    """The case-page rule as a WHERE clause on `Case`: leads and administrators see all; others
    their own cases, cases where they or their group have or had a task, and cases where
    someone they manage (or a group such a person belongs to) does."""
    if actor.sees_all_cases:
        return true()
    reports = list(session.scalars(select(UserAccount.username).where(UserAccount.manager_username == actor.username)))
    people = sorted({actor.username, *reports})
    groups = set(actor.groups)
    if reports:
        groups |= set(session.scalars(
            select(UserGroup.name).join(GroupMember, GroupMember.group_id == UserGroup.id)
            .join(UserAccount, UserAccount.id == GroupMember.user_id).where(UserAccount.username.in_(reports))))
    task_rule = or_(HumanTask.assignee.in_(people), HumanTask.closed_by.in_(people),
                    HumanTask.candidate_group.in_(sorted(groups)) if groups else false())
    return or_(Case.owner == actor.username, exists().where(HumanTask.case_id == Case.id, task_rule))


# ---------------------------------------------------------------- back ends


class Backend(Protocol):
    def matches(self, query: Query, *, every_word: bool, ranked: bool = True, lessons: bool | None = None) -> Any:
        """A subquery (doc_id, case_id, field, lesson_id, score) of the matching documents, higher score better.

        `ranked=False` leaves the score 0 (counting needs no ranking); `lessons` keeps only the
        lessons' documents (True) or only the cases' own (False)."""

    def snippets(self, session: Session, query: Query, doc_ids: Sequence[int], *, every_word: bool) -> dict[int, str]:
        """HTML-safe snippets of these documents with the matches marked."""

    def informative(self, session: Session, query: Query) -> Query:
        """The words of a long text worth matching on: in the index, and not in most documents."""


def _kind_sql(lessons: bool | None) -> str:
    """Only the cases' own documents (False), only lessons' (True), or both (None)."""
    return "" if lessons is None else (" AND d.lesson_id IS NOT NULL" if lessons else " AND d.lesson_id IS NULL")


def _weight(column: Any) -> Any:
    return case(*[(column == name, w) for name, w in FIELD_WEIGHT.items()], else_=1.0)


class SqliteBackend:
    """FTS5 over Snowball stems; bm25() is lower-is-better, so the score is its negative."""

    def matches(self, query: Query, *, every_word: bool, ranked: bool = True, lessons: bool | None = None) -> Any:
        expression = query.fts5_all() if every_word else query.fts5_any()
        score = "-bm25(search_fts)" if ranked else "0.0"  # bm25 is computed only for the rows kept
        kind = _kind_sql(lessons)
        sql = text("SELECT d.id AS doc_id, d.case_id AS case_id, d.field AS field, d.lesson_id AS lesson_id, "
                   f"{score} AS score "
                   "FROM search_fts JOIN search_document d ON d.id = search_fts.rowid "
                   f"WHERE search_fts MATCH :match{kind} LIMIT -1").bindparams(match=expression)  # no flattening
        return sql.columns(doc_id=Integer, case_id=Integer, field=String, lesson_id=Integer,
                           score=Float).subquery("m")

    def snippets(self, session: Session, query: Query, doc_ids: Sequence[int], *, every_word: bool) -> dict[int, str]:
        if not doc_ids:
            return {}
        rows = session.execute(select(SearchDocument.id, SearchDocument.body)
                               .where(SearchDocument.id.in_(list(doc_ids)))).all()
        return {r[0]: highlight(r[1], query) for r in rows}

    def informative(self, session: Session, query: Query) -> Query:
        stems = sorted(set(query.sv))
        if not stems:
            return query
        marks = ", ".join(f":t{i}" for i in range(len(stems)))
        df = dict(session.execute(
            text(f"SELECT term, doc FROM search_fts_vocab WHERE col = 'sv' AND term IN ({marks})"),
            {f"t{i}": t for i, t in enumerate(stems)}).all())
        documents = session.execute(text("SELECT COALESCE(MAX(id), 0) FROM search_document")).scalar_one() or 1
        return _keep(query, [(i, df[sv] / documents) for i, sv in enumerate(query.sv) if sv in df])


def _keep(query: Query, shares: list[tuple[int, float]]) -> Query:
    """The rarest words, at most SIMILAR_TERMS, leaving out those in more than COMMON_SHARE of documents."""
    shares.sort(key=lambda item: item[1])
    chosen = [i for i, share in shares if share <= COMMON_SHARE][:SIMILAR_TERMS] or [i for i, _s in shares[:3]]
    chosen.sort()
    return Query(tuple(query.words[i] for i in chosen), tuple(query.sv[i] for i in chosen),
                 tuple(query.en[i] for i in chosen))


class PostgresBackend:
    """The generated tsvector (swedish || english), ts_rank_cd and ts_headline."""

    HEADLINE = (f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, MaxFragments=2, "
                "FragmentDelimiter=\" … \"")

    @staticmethod
    def _tsquery(query: Query, *, every_word: bool) -> tuple[str, dict[str, str]]:
        params = {f"w{i}": w for i, w in enumerate(query.words)}
        if every_word:
            parts = [f"(plainto_tsquery('swedish', :w{i}) || plainto_tsquery('english', :w{i}))"
                     for i in range(len(query.words))]
            return " && ".join(parts), params
        config = "simple" if query.lexemes else "swedish"  # lexemes are stems already
        return " || ".join(f"plainto_tsquery('{config}', :w{i})" for i in range(len(query.words))), params

    def matches(self, query: Query, *, every_word: bool, ranked: bool = True, lessons: bool | None = None) -> Any:
        tsquery, params = self._tsquery(query, every_word=every_word)
        normalise = "32" if every_word else "0"  # rank/(rank+1) for search; raw frequency sums for similarity
        rank = f"ts_rank(d.tsv, q.q, {normalise})" if ranked else "0.0"
        sql = text(f"SELECT d.id AS doc_id, d.case_id AS case_id, d.field AS field, d.lesson_id AS lesson_id, "
                   f"{rank} AS score "
                   f"FROM search_document d, (SELECT {tsquery} AS q) AS q WHERE d.tsv @@ q.q{_kind_sql(lessons)}"
                   ).bindparams(**params)
        return sql.columns(doc_id=Integer, case_id=Integer, field=String, lesson_id=Integer,
                           score=Float).subquery("m")

    def snippets(self, session: Session, query: Query, doc_ids: Sequence[int], *, every_word: bool) -> dict[int, str]:
        if not doc_ids:
            return {}
        tsquery, params = self._tsquery(query, every_word=every_word)
        ids = ", ".join(str(int(i)) for i in doc_ids)
        rows = session.execute(text(
            f"SELECT d.id, ts_headline('swedish', d.body, q.q, :options) FROM search_document d, "
            f"(SELECT {tsquery} AS q) AS q WHERE d.id IN ({ids})"), {**params, "options": self.HEADLINE}).all()
        return {r[0]: marked_to_html(r[1]) for r in rows}


    _stats: tuple[float, dict[str, float]] = (0.0, {})

    def informative(self, session: Session, query: Query) -> Query:
        """PostgreSQL's own lexemes of the words; how common each is comes from ANALYZE's statistics
        of the tsvector column (most_common_elems), read at most every ten minutes."""
        rows = session.execute(text("SELECT w, plainto_tsquery('swedish', w)::text "
                                    "FROM unnest(CAST(:words AS text[])) AS w"), {"words": list(query.words)}).all()
        lexeme = {w: q.strip("'") for w, q in rows if q and " " not in q}
        common = self._common(session)
        words = [w for w in query.words if w in lexeme]
        unique: dict[str, int] = {}
        for w in words:
            unique.setdefault(lexeme[w], len(unique))
        lexemes = list(unique)
        picked = _keep(Query(tuple(lexemes), tuple(lexemes), tuple(lexemes)),
                       [(i, common.get(lx, 0.0)) for i, lx in enumerate(lexemes)])
        return Query(picked.words, picked.sv, picked.en, lexemes=True)

    @classmethod
    def _common(cls, session: Session) -> dict[str, float]:
        import time

        at, found = cls._stats
        if time.monotonic() - at < 600:
            return found
        row = session.execute(text(
            "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
            "WHERE tablename = 'search_document' AND attname = 'tsv'")).first()
        found = dict(zip(row[0], [float(f) for f in row[1]], strict=False)) if row and row[0] else {}
        cls._stats = (time.monotonic(), found)
        return found


def backend_for(session: Session) -> Backend:
    return PostgresBackend() if session.get_bind().dialect.name == "postgresql" else SqliteBackend()


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
        if session.get_bind().dialect.name == "postgresql":
            # The GIN index and the documents are in memory: say so, or the planner scans the
            # whole table for a common word.
            session.execute(text("SET LOCAL random_page_cost = 1.1"))
        where: list[Any] = [visible_cases(session, actor)]
        if status is not None:
            where.append(Case.status == status)
        if stage is not None:
            where.append(Case.stage == stage)
        if process is not None:
            where.append(Case.process_key == process)
        # Ranking every match of a common word is the cost, and so is reading the matches more than
        # once. One statement: the matches are read once (a materialised CTE), the database counts
        # the facets and hands over only the best documents of cases the actor may see (at most
        # `wanted`), and, in the same pass, the count and the best of the lessons.
        wanted = min(max(CANDIDATES, (offset + limit) * 4), MAX_CANDIDATES)
        want_lessons = field_ in (None, "lessons")
        m = backend.matches(query, every_word=True, lessons=None if want_lessons else False)
        m = select(m).cte("m").prefix_with("MATERIALIZED")
        doc_where = [*where, m.c.lesson_id.is_(None)]
        if field_ is not None:
            doc_where.append(m.c.field == field_)
        v = (select(m.c.doc_id, m.c.case_id, m.c.field, (m.c.score * _weight(m.c.field)).label("w"),
                    Case.status, Case.stage)
             .select_from(m.join(Case, Case.id == m.c.case_id)).where(and_(*doc_where))
             .cte("v").prefix_with("MATERIALIZED"))
        parts = [
            select(literal("ss").label("kind"), v.c.status.label("word"), v.c.stage.label("n1"),
                   func.count(distinct(v.c.case_id)).label("n2"), cast(null(), Float).label("score"))
            .group_by(v.c.status, v.c.stage),
            select(literal("f"), v.c.field, cast(null(), Integer), func.count(distinct(v.c.case_id)),
                   cast(null(), Float)).group_by(v.c.field),
            select(literal("top"), v.c.field, v.c.case_id, v.c.doc_id, v.c.w)
            .order_by(v.c.w.desc(), v.c.doc_id).limit(wanted).subquery().select(),
        ]
        if want_lessons:
            from .lessons import readable_rules

            lesson_where = readable_rules(session, actor, by_words=True)
            lv = (select(m.c.doc_id, m.c.lesson_id, m.c.score).select_from(
                m.join(Lesson, Lesson.id == m.c.lesson_id).join(Case, Case.id == Lesson.case_id))
                .where(*lesson_where).cte("lv").prefix_with("MATERIALIZED"))
            parts += [
                select(literal("lc"), cast(null(), String), cast(null(), Integer), func.count(), cast(null(), Float))
                .select_from(lv),
                select(literal("lt"), cast(null(), String), lv.c.lesson_id, lv.c.doc_id, lv.c.score)
                .order_by(lv.c.score.desc(), lv.c.lesson_id.desc()).limit(LESSON_HITS).subquery().select(),
            ]
        found = session.execute(union_all(*parts)).all()
        statuses: dict[str, int] = {}
        stages: dict[int | None, int] = {}
        per_field: list[tuple[str, int]] = []
        rows: list[tuple[int, int, str, float]] = []
        lesson_total, lesson_rows = 0, []
        for kind, word, n1, n2, score in found:
            if kind == "ss":
                statuses[word] = statuses.get(word, 0) + int(n2)
                stages[n1] = stages.get(n1, 0) + int(n2)
            elif kind == "f":
                per_field.append((word, int(n2)))
            elif kind == "top":
                rows.append((int(n2), int(n1), word, float(score)))
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
            from .lessons import views_by_id

            lessons = views_by_id(session, actor, backend, query, lesson_rows)
        per_case: dict[int, list[Any]] = {}  # case id -> [score, best doc, best field, best doc score]
        for doc_id, case_id, doc_field, raw in rows:
            score = float(raw)
            entry = per_case.get(case_id)
            if entry is None:
                per_case[case_id] = [score, doc_id, doc_field, score]
                continue
            entry[0] += score
            if score > entry[3] or (score == entry[3] and doc_id < entry[1]):
                entry[1], entry[2], entry[3] = doc_id, doc_field, score
        ranked = sorted(per_case.items(), key=lambda kv: (-kv[1][0], -kv[0]))
        page = ranked[offset:offset + limit]
        cases = {r.id: r for r in session.execute(
            select(Case.id, Case.number, Case.title, Case.status, Case.stage, Case.process_key)
            .where(Case.id.in_([case_id for case_id, _e in page])))} if page else {}
        snippets = backend.snippets(session, query, [e[1] for _c, e in page], every_word=True)
    hits = [SearchHit(case_id, cases[case_id].number, cases[case_id].title, cases[case_id].status,
                      cases[case_id].stage, cases[case_id].process_key, e[2], snippets.get(e[1], ""), e[0])
            for case_id, e in page]
    return SearchResults(text_, total, hits, offset, limit, facets, lessons, lesson_total)


LESSON_HITS = 5
CANDIDATES = 200  # documents ranked for a page of cases; more for pages further on
MAX_CANDIDATES = 20_000


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
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL random_page_cost = 1.1"))
        query = backend.informative(session, query)
        if query.empty:
            return []
        m = backend.matches(query, every_word=False, lessons=False)
        where = [visible_cases(session, actor), m.c.field.in_(SIMILAR_FIELDS)]
        if exclude_case_id is not None:
            where.append(m.c.case_id != exclude_case_id)
        score = m.c.score * _weight(m.c.field)
        per_case = (select(m.c.case_id, func.sum(score).label("score"), func.max(m.c.doc_id).label("doc_id"))
                    .select_from(m.join(Case, Case.id == m.c.case_id)).where(and_(*where))
                    .group_by(m.c.case_id).order_by(literal_column("score").desc(), m.c.case_id.desc())
                    .limit(limit))
        rows = session.execute(per_case).all()
        if not rows:
            return []
        ids = [r.case_id for r in rows]
        cases = {r.id: r for r in session.execute(
            select(Case.id, Case.number, Case.title, Case.status, Case.stage).where(Case.id.in_(ids)))}
        need_docs = dict(session.execute(
            select(SearchDocument.case_id, SearchDocument.id)
            .where(SearchDocument.case_id.in_(ids), SearchDocument.field == "need")).all())
        lessons = {case_id: _lesson_text(found) for case_id, found in _lessons_of(session, ids).items()}
        without = [case_id for case_id in ids if case_id not in lessons]
        if without:  # lessons written before they were records of their own (a case's lessons document)
            lessons.update(session.execute(
                select(SearchDocument.case_id, SearchDocument.body)
                .where(SearchDocument.case_id.in_(without), SearchDocument.field == "lessons")).all())
        snippets = backend.snippets(session, query, list(need_docs.values()), every_word=False)
        outcomes = _outcomes(session, ids)
    out = []
    for r in rows:
        c = cases[r.case_id]
        lesson = lessons.get(r.case_id)
        out.append(SimilarCase(c.id, c.number, c.title, c.status, c.stage, outcomes.get(c.id),
                               (lesson[:400] + "…") if lesson and len(lesson) > 400 else lesson,
                               snippets.get(need_docs.get(c.id, -1), ""), float(r.score)))
    return out


def _lessons_of(session: Session, case_ids: list[int]) -> dict[int, list[Any]]:
    from .lessons import lessons_of_cases

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
    from iphs_flow.services.cases import visible_case

    with ctx.uow.read() as tx:
        case = visible_case(tx, case_id, actor)
        found_id, title = case.id, case.title
        bodies = tx.session.scalars(select(SearchDocument.body).where(
            SearchDocument.case_id == found_id, SearchDocument.field.in_(SIMILAR_FIELDS))).all()
    described = " ".join(bodies)[:MAX_QUERY_CHARS] or title[:MAX_QUERY_CHARS]
    return similar_cases(ctx, described, actor, limit, exclude_case_id=found_id)

"""Search across cases and similar cases: one interface, two back ends (PostgreSQL, SQLite FTS5).

Both read `search_document` (kept in step by services/search_index.py). PostgreSQL
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import (
    Float,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    column,
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
    union,
    union_all,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.sqltypes import NullType

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


def _people_and_groups(session: Session, actor: Actor) -> tuple[list[str], list[str]]:
    """Whose tasks make a case visible to the actor: the actor and the people they manage, and
    the groups of all of them."""
    reports = list(session.scalars(select(UserAccount.username).where(UserAccount.manager_username == actor.username)))
    groups = set(actor.groups)
    if reports:
        groups |= set(session.scalars(
            select(UserGroup.name).join(GroupMember, GroupMember.group_id == UserGroup.id)
            .join(UserAccount, UserAccount.id == GroupMember.user_id).where(UserAccount.username.in_(reports))))
    return sorted({actor.username, *reports}), sorted(groups)


def _task_rule(people: list[str], groups: list[str]) -> ColumnElement[bool]:
    return or_(HumanTask.assignee.in_(people), HumanTask.closed_by.in_(people),
               HumanTask.candidate_group.in_(groups) if groups else false())


# Migration 0024's indexes of a task's people with its case id (store/tables.py), named for SQLite.
TASK_INDEXES = {"assignee": "ix_human_task_assignee_case", "closed_by": "ix_human_task_closed_by_case",
                "candidate_group": "ix_human_task_group_case"}


def visible_cases(session: Session, actor: Actor) -> ColumnElement[bool]:
    """The case-page rule as a WHERE clause on `Case`: leads and administrators see all; others
    their own cases, cases where they or their group have or had a task, and cases where
    someone they manage (or a group such a person belongs to) does."""
    if actor.sees_all_cases:
        return true()
    people, groups = _people_and_groups(session, actor)
    return or_(Case.owner == actor.username, exists().where(HumanTask.case_id == Case.id, _task_rule(people, groups)))


def visible_case_ids(session: Session, actor: Actor) -> Any:
    """The same rule as `visible_cases`, as one SELECT of case ids; None for those who see every case.

    One SELECT per rule, each read through its own index (an OR of them reads every task). On
    SQLite the index is named: most tasks have no assignee and no closer, which its statistics
    take for a value shared by half the table, so it would read every task instead.
    """
    if actor.sees_all_cases:
        return None
    people, groups = _people_and_groups(session, actor)
    sqlite = session.get_bind().dialect.name == "sqlite"

    def tasks_where(column: str) -> Any:
        index = TASK_INDEXES[column]
        source = text(f"human_task INDEXED BY {index}") if sqlite else HumanTask.__table__
        return select(literal_column("human_task.case_id", Integer)).select_from(source).where(
            literal_column(f"human_task.{column}", String).in_(groups if column == "candidate_group" else people))

    cases = Case.__table__.c
    parts = [select(cases.id.label("id")).where(cases.owner == actor.username),
             tasks_where("assignee"), tasks_where("closed_by")]
    if groups:
        parts.append(tasks_where("candidate_group"))
    return union(*parts)


class VisibleCases:
    """The cases an actor may see, read once for a search (None: every case).

    A search reads thousands of matches: asking "may the actor see this case?" of each one (a
    correlated EXISTS) costs more than reading the actor's cases once, which are few for anyone
    but a lead (their own, their groups' and their reports'), and checking each match against
    them. The database hands them over as one value in its own notation (a JSON array on SQLite,
    an array literal on PostgreSQL), and takes it back as one parameter, bound once however often
    a statement checks it: PostgreSQL plans it as a constant array (hashed, counted by the
    planner), SQLite as a list it builds once.
    """

    def __init__(self, ids: str | None, postgresql: bool) -> None:
        self.ids = ids
        self._postgresql = postgresql
        # No type: the PostgreSQL driver sends the text untyped, so the server reads it as bigint[].
        self._param = None if ids is None else bindparam("visible_cases", ids, type_=NullType())

    @property
    def all(self) -> bool:
        return self.ids is None

    def contains(self, case_id: Any) -> ColumnElement[bool]:
        """`case_id` (a column) is one of these cases."""
        if self._param is None:
            return true()
        if self._postgresql:
            return case_id == any_(self._param)
        return case_id.in_(select(func.json_each(self._param).table_valued("value").c.value))


def read_visible_cases(session: Session, actor: Actor) -> VisibleCases:
    ids = visible_case_ids(session, actor)
    postgresql = session.get_bind().dialect.name == "postgresql"
    if ids is None:
        return VisibleCases(None, postgresql)
    found = ids.subquery()
    gathered = cast(func.array_agg(found.c.id), String) if postgresql else func.json_group_array(found.c.id)
    value = session.execute(select(gathered)).scalar_one()
    return VisibleCases(value or ("{}" if postgresql else "[]"), postgresql)


# ---------------------------------------------------------------- back ends


@dataclass(frozen=True)
class DocColumns:
    """The columns of a matching document, for the conditions the caller writes before the match
    is built; `status` and `stage` are its case's, which the document carries (migration 0027)."""

    doc_id: Any
    case_id: Any
    field: Any
    lesson_id: Any
    status: Any
    stage: Any


Condition = Callable[[DocColumns], ColumnElement[bool]]


class Backend(Protocol):
    ranks_in_index: bool
    """Whether ranking every match costs little more than finding it (FTS5's bm25 reads the index
    it matches with): then search ranks every match; otherwise (PostgreSQL's ts_rank reads each
    document's tsvector from its row) it ranks a bounded set of candidates with `rank`."""

    def prepare(self, session: Session) -> None:
        """Settings for the statements of one search, in its transaction."""

    def matches(self, query: Query, *, every_word: bool, where: Condition | None = None,
                ranked: bool = True, with_case: bool = False) -> Any:
        """A SELECT (doc_id, case_id, field, lesson_id, score[, status, stage]) of the matching
        documents that pass `where`, higher score better, in one pass of the full-text index.

        `where` is checked before a document is ranked, so a document the reader may not see, or
        of a field not asked for, is never ranked; `ranked=False` leaves the score NULL (counting
        needs no ranking); `with_case` adds the status and stage of each document's case (which
        the document carries, so no case is read)."""

    def query_params(self, query: Query, *, every_word: bool) -> dict[str, Any]:
        """The values of `query` for a statement built for a query of as many words."""

    def best_doc(self, score: Any, doc_id: Any) -> list[Any]:
        """Aggregate columns giving `doc_id`: the document with the highest score of a group."""

    def snippet_column(self, query: Query, body: Any, *, every_word: bool) -> Any:
        """What to select of a document's `body` for its snippet (`snippet` finishes it)."""

    def snippet(self, selected: str, query: Query) -> str:
        """The HTML-safe snippet, matches in <mark>, of what `snippet_column` selected."""

    def informative(self, session: Session, query: Query) -> Query:
        """The words of a long text worth matching on: in the index, and not in most documents."""


def _weight(column: Any) -> Any:
    return case(*[(column == name, w) for name, w in FIELD_WEIGHT.items()], else_=1.0)


def _doc_columns(plain: str = "") -> DocColumns:
    """The columns of `d` (the document). `plain`: "+" keeps SQLite from looking a condition up in
    the covering index (it would look up every one of the actor's cases for every match instead
    of checking the match's case)."""
    return DocColumns(literal_column("d.id", Integer), literal_column(f"{plain}d.case_id", Integer),
                      literal_column(f"{plain}d.field", String), literal_column(f"{plain}d.lesson_id", Integer),
                      literal_column(f"{plain}d.case_status", String), literal_column(f"{plain}d.case_stage", Integer))


def _match_select(columns: DocColumns, rank: str, match: Any, from_: Any, where: Condition | None,
                  ranked: bool, with_case: bool) -> Any:
    score: Any = literal_column(rank, Float) if ranked else cast(null(), Float)
    conditions = [match] + ([where(columns)] if where is not None else [])
    out = [columns.doc_id.label("doc_id"), columns.case_id.label("case_id"), columns.field.label("field"),
           columns.lesson_id.label("lesson_id"), score.label("score")]
    if with_case:
        # Whether it is a case's document (not a lesson's) as a column of its own: PostgreSQL
        # takes `lesson_id IS NULL` of a CTE for one row in two hundred, and so sorts thousands
        # of rows it planned to be few; of a boolean it expects half.
        out += [columns.status.label("status"), columns.stage.label("stage"),
                columns.lesson_id.is_(None).label("case_doc")]
    return select(*out).select_from(from_).where(*conditions)


class RanksCandidates(Backend, Protocol):
    """A back end whose ranking reads each document (ranks_in_index False): search ranks a
    bounded set of candidates with `rank` instead of every match. SQLite ranks every match in
    the pass that finds it, so it has no `rank`."""

    def rank(self, query: Query, docs: Any, *, every_word: bool) -> Any:
        """A SELECT of the columns of `docs` (a subquery or CTE with a doc_id column) and the score
        of each of its documents."""


class SqliteBackend:
    """FTS5 over Snowball stems; bm25() is lower-is-better, so the score is its negative.

    The documents' case, field and lesson are read through the narrow covering index
    ix_search_document_match (migration 0025): a search of a common word reads thousands of
    them, and the table's rows carry the whole text."""

    ranks_in_index = True

    def prepare(self, session: Session) -> None:
        return None

    def matches(self, query: Query, *, every_word: bool, where: Condition | None = None,
                ranked: bool = True, with_case: bool = False) -> Any:
        expression = query.fts5_all() if every_word else query.fts5_any()
        return _match_select(_doc_columns(plain="+"), "-bm25(search_fts)",
                             text("search_fts MATCH :match").bindparams(match=expression),
                             text("search_fts JOIN search_document AS d INDEXED BY ix_search_document_match "
                                  "ON d.id = search_fts.rowid"), where, ranked, with_case
                             ).limit(-1)  # never flattened into an outer query: bm25() needs the match's own

    def query_params(self, query: Query, *, every_word: bool) -> dict[str, Any]:
        return {"match": query.fts5_all() if every_word else query.fts5_any()}

    def best_doc(self, score: Any, doc_id: Any) -> list[Any]:
        # SQLite gives a bare column the value of the row that max() took.
        return [func.max(score).label("best"), doc_id.label("doc_id")]

    def snippet_column(self, query: Query, body: Any, *, every_word: bool) -> Any:
        return body  # cut in Python by the stems the index matched

    def snippet(self, selected: str, query: Query) -> str:
        return highlight(selected, query)

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
    """The generated tsvector (swedish || english), ts_rank and ts_headline."""

    ranks_in_index = False
    HEADLINE = (f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, MaxFragments=2, "
                "FragmentDelimiter=\" … \"")

    def prepare(self, session: Session) -> None:
        # The GIN index and the documents are in memory: say so, or the planner scans the whole
        # table for a common word. And plan each statement for its own values, also once the
        # driver has prepared it: the words and the reader's cases decide the plan (a constant
        # array is hashed, the similar-cases index is used only for its known fields).
        session.execute(text("SELECT set_config('random_page_cost', '1.1', true), "
                             "set_config('plan_cache_mode', 'force_custom_plan', true)"))

    @staticmethod
    def _tsquery(query: Query, *, every_word: bool) -> tuple[str, dict[str, str]]:
        params = {f"w{i}": w for i, w in enumerate(query.words)}
        if every_word:
            parts = [f"(plainto_tsquery('swedish', :w{i}) || plainto_tsquery('english', :w{i}))"
                     for i in range(len(query.words))]
            return " && ".join(parts), params
        config = "simple" if query.lexemes else "swedish"  # lexemes are stems already
        return " || ".join(f"plainto_tsquery('{config}', :w{i})" for i in range(len(query.words))), params

    def query_params(self, query: Query, *, every_word: bool) -> dict[str, Any]:
        return self._tsquery(query, every_word=every_word)[1]

    def _query_row(self, query: Query, name: str, *, every_word: bool) -> Any:
        """The tsquery as a one-row subquery `name` (q); PostgreSQL folds it to a constant when planning."""
        tsquery, params = self._tsquery(query, every_word=every_word)
        return text(f"SELECT {tsquery} AS q").bindparams(**params).columns(column("q", String)).subquery(name)

    def matches(self, query: Query, *, every_word: bool, where: Condition | None = None,
                ranked: bool = True, with_case: bool = False) -> Any:
        normalise = "32" if every_word else "0"  # rank/(rank+1) for search; raw frequency sums for similarity
        documents = SearchDocument.__table__.alias("d")
        q = self._query_row(query, "q", every_word=every_word)
        return _match_select(_doc_columns(), f"ts_rank(d.tsv, q.q, {normalise})", text("d.tsv @@ q.q"),
                             documents.join(q, true()), where, ranked, with_case)

    def rank(self, query: Query, docs: Any, *, every_word: bool) -> Any:
        # A join, each document read by its id (not an IN, which the planner may check by
        # scanning the list again for every document).
        r = SearchDocument.__table__.alias("r")
        q = self._query_row(query, "rq", every_word=every_word)
        score = literal_column(f"ts_rank(r.tsv, rq.q, {'32' if every_word else '0'})", Float)
        return (select(*docs.c, score.label("score"))
                .select_from(docs.join(r, r.c.id == docs.c.doc_id).join(q, true())))

    def best_doc(self, score: Any, doc_id: Any) -> list[Any]:
        # The greatest (score, -id): the best document, the lowest id among equals.
        best = func.max(postgresql_dialect.array([score, -cast(doc_id, Float)]))
        return [cast(-best[2], Integer).label("doc_id")]

    def snippet_column(self, query: Query, body: Any, *, every_word: bool) -> Any:
        tsquery, params = self._tsquery(query, every_word=every_word)
        return func.ts_headline("swedish", body, text(tsquery).bindparams(**params),
                                bindparam("headline_options", self.HEADLINE, type_=String))

    def snippet(self, selected: str, query: Query) -> str:
        return marked_to_html(selected)

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


def snippets(session: Session, backend: Backend, query: Query, doc_ids: Sequence[int], *,
             every_word: bool) -> dict[int, str]:
    """HTML-safe snippets of these documents with the matches marked."""
    if not doc_ids:
        return {}
    rows = session.execute(select(SearchDocument.id,
                                  backend.snippet_column(query, SearchDocument.body, every_word=every_word))
                           .where(SearchDocument.id.in_(list(doc_ids)))).all()
    return {r[0]: backend.snippet(r[1], query) for r in rows}


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
            from .lessons import views_by_id

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
        per_case = [func.sum(m.c.score * _weight(m.c.field)).label("s"),
                    *backend.best_doc(m.c.score * _weight(m.c.field), m.c.doc_id)]
    else:  # the candidates' best documents are found when they are ranked; any other shows its first
        per_case = [func.sum(_weight(m.c.field)).label("s"), func.min(m.c.doc_id).label("doc_id")]
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
        from .lessons import readable_by_words

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


def placeholder_query(words: int) -> Query:
    """A query of `words` words for building a statement whose words are bound when it runs."""
    names = tuple(f"w{i}" for i in range(words))
    return Query(names, names, names)


def _ranked_candidates(backend: RanksCandidates, query: Query, m: Any, pc: Any) -> Any:
    """The cases in order where ranking reads each document (PostgreSQL): the CANDIDATES cases
    whose matching fields weigh most (the newest among equals) are ranked and come first, best
    first; any further cases follow by weight. The candidates do not depend on the page, so
    whoever pages on sees every case once."""
    candidates = (select(pc.c.case_id).order_by(pc.c.s.desc(), pc.c.case_id.desc()).limit(CANDIDATES)
                  .cte("cand").prefix_with("MATERIALIZED"))
    chosen = (select(m.c.doc_id, m.c.case_id, _weight(m.c.field).label("fw"))
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
    return (select(m.c.case_id, func.sum(m.c.score * _weight(m.c.field)).label("score"))
            .group_by(m.c.case_id).order_by(literal_column("score").desc(), m.c.case_id.desc())
            .limit(bindparam("similar_limit", type_=Integer)))


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

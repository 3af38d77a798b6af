"""Full text for search and the lessons library: the reader's cases and the two back ends.

Search across cases (queries/search.py) and the lessons library (queries/lessons.py) both
match `search_document` (kept in step by services/search_index.py) and both show only what
the reader may see. What they share lives here, so neither imports the other: the reader's
cases (read once per request and handed to a statement as one value, by the rule of the
case pages, services/permissions.py), and the back ends: PostgreSQL's tsvector with `@@`,
`ts_rank` and `ts_headline`, and SQLite's FTS5 table `search_fts` of Snowball stems with
`bm25()`, cut into snippets in Python by the same stems.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    Float,
    Integer,
    String,
    any_,
    bindparam,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
    union,
)
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.sqltypes import NullType

from iphs_flow.services.permissions import Actor
from iphs_flow.services.text_analysis import MARK_END, MARK_START, Query, highlight, marked_to_html
from iphs_flow.store.tables import (
    Case,
    GroupMember,
    HumanTask,
    SearchDocument,
    UserAccount,
    UserGroup,
)

MAX_LIMIT = 100
MAX_QUERY_CHARS = 500
# A title says most about a case, the need and lessons next; other fields count once.
FIELD_WEIGHT = {"title": 3.0, "need": 1.5, "lessons": 1.5}
SIMILAR_TERMS = 10  # a need is matched on its rarest words
COMMON_SHARE = 0.04  # words in more documents than this say little about which need it is


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


def weight_of(column: Any) -> Any:
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


def placeholder_query(words: int) -> Query:
    """A query of `words` words for building a statement whose words are bound when it runs."""
    names = tuple(f"w{i}" for i in range(words))
    return Query(names, names, names)

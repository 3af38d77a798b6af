"""Portfolio analytics (Portfölj, issue 17 point 4): the funnel, gates, lead times, outcomes, goals, budgets.

One read model for the page /portfolj, the API (/api/v1/portfolio) and the console
(`iphs-flow portfolio`). Every number is read from the case history and the records kept
beside it, never from workflow state or process files, so a case counts the same whatever
process version it ran on (or was migrated to):

- the funnel and the time in each stage come from the `stage_entered` history events
  (services/case_sync.py writes one whenever a case's stage changes);
- gates, their conversion, lead times, outcomes and reasons from `gate_decision` (one row
  per decision round) and the opening of the gate's task (`human_task.created_at`);
- the unit, Agenda 2030 goals and budgets from the stage records' fields (`unit`, else the
  need's `need_owner`; `agenda2030_goals`; the concept's `pilot_budget` and the evaluation's
  `implementation_budget` requested, `budget_granted` in the pilot), and overdue work from
  the open tasks' due dates.

Who sees what: innovation leads and administrators see every case; a manager (someone
others report to) sees the portfolio of the cases they may see — their own, their
reports' and their groups' — by the rule of search (queries/search.py: visible_cases),
read here once per page as a list of case ids (visible_case_ids). A case the reader may not
see never enters any query, so it changes no number, count, list or export. Reasons marked
secret (services/secrecy.py) are left out.

The numbers are small GROUP BYs over per-case summaries of the history (portfolio_case,
_stay, _gate), rebuilt for cases whose history is newer. Every summary row carries the
fields its case is filtered by (period, process, status, unit, goals: revision 0026), so
for a broad selection each aggregate applies the filters to its own table and grouping
index; a selection of few cases, or any of a reader who does not see them all, is read
once as case ids (select_cases) and given to every query as one parameter. Python counts
up the groups, because working
days (Swedish holidays, engine/calendar.py) and percentiles are not SQL either database
has. Durations are whole working days after the start up to and including the end
(calendar.working_days_between); the median is the middle value (the mean of the two
middle ones), the 90th percentile the nearest rank.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM, is_working_day
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import CLOSING_WORDS, OUTCOMES, STAGES
from iphs_flow.services.errors import Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries.search import CASE_STATUSES
from iphs_flow.store.tables import (
    Case,
    CaseEvent,
    GateDecision,
    GroupMember,
    HumanTask,
    PortfolioCase,
    PortfolioGate,
    PortfolioStay,
    ProcessVersion,
    SecrecyMarking,
    StageRecord,
    UserAccount,
    UserGroup,
)

PERIODS = ("active", "started")  # cases active at some time in the range, or started in it
GOALS: dict[int, str] = {
    1: "Ingen fattigdom", 2: "Ingen hunger", 3: "Hälsa och välbefinnande", 4: "God utbildning för alla",
    5: "Jämställdhet", 6: "Rent vatten och sanitet för alla", 7: "Hållbar energi för alla",
    8: "Anständiga arbetsvillkor och ekonomisk tillväxt", 9: "Hållbar industri, innovationer och infrastruktur",
    10: "Minskad ojämlikhet", 11: "Hållbara städer och samhällen", 12: "Hållbar konsumtion och produktion",
    13: "Bekämpa klimatförändringarna", 14: "Hav och marina resurser", 15: "Ekosystem och biologisk mångfald",
    16: "Fredliga och inkluderande samhällen", 17: "Genomförande och globalt partnerskap",
}
APPROVING = frozenset({"approved", "approved_with_conditions", "realised", "do_it"})
# How a case that went all the way ended: implemented. A case that reached the
# implementation stage counts too (its follow-up may still be running).
IMPLEMENTED_OUTCOMES = frozenset({"realised", "do_it"})
IMPLEMENTATION_STAGE = 5
REQUESTED_FIELDS = ("pilot_budget", "implementation_budget")  # concept, evaluation
GRANTED_FIELD = "budget_granted"  # the pilot's granted budget replaces the pilot's approved amount
GATE_APPROVED_FIELD = "approved_budget"  # a gate form may state the amount it approved
UNIT_FIELDS = ("unit", "need_owner")
GOAL_FIELD = "agenda2030_goals"
MAX_TEXT = 300
PAGE_ROWS = 25  # long lists (reasons, overdue tasks) show this many on the page; exports hold all


# ---------------------------------------------------------------- the view


@dataclass(frozen=True)
class Column:
    key: str
    title: str  # Swedish message id
    # text | term (a Swedish word to translate) | int | days | percent | sek | date | stage | outcome | goal
    kind: str = "text"


@dataclass(frozen=True)
class Table:
    key: str
    title: str  # Swedish message id
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]

    def records(self) -> list[dict[str, Any]]:
        keys = [c.key for c in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Filters:
    date_from: date | None = None
    date_to: date | None = None
    period: str = "active"
    unit: str | None = None
    process: str | None = None
    goal: int | None = None
    status: str | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters (links to exports keep the same selection)."""
        values = {"from": self.date_from.isoformat() if self.date_from else None,
                  "to": self.date_to.isoformat() if self.date_to else None,
                  "period": self.period if (self.date_from or self.date_to) else None,
                  "unit": self.unit, "process": self.process,
                  "goal": str(self.goal) if self.goal else None, "status": self.status}
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Portfolio:
    """What the portfolio shows for one reader and one selection, every number from the history."""

    filters: Filters
    generated_at: datetime
    cases: int  # cases in the selection that the reader may see
    sees_all: bool
    tables: tuple[Table, ...]
    units: tuple[str, ...]  # units named in the cases the reader may see (for the filter)
    processes: tuple[str, ...]
    figures: Mapping[str, Any] = field(default_factory=dict)  # implemented share, totals ...

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise NotFound(f"there is no portfolio table {key}")


TABLE_KEYS = ("funnel", "gates", "stage_times", "gate_times", "outcomes", "reasons", "implemented", "goals",
              "budget", "overdue")


# ---------------------------------------------------------------- filters


def read_filters(raw: Mapping[str, Any]) -> Filters:
    """Filters from GET parameters (from, to, period, unit, process, goal, status): 422 with field messages."""
    errors: dict[str, list[str]] = {}

    def text(name: str, limit: int) -> str | None:
        value = raw.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            errors[name] = ["must be text"]
            return None
        value = value.strip()
        if len(value) > limit:
            errors[name] = [f"at most {limit} characters"]
            return None
        return value or None

    def day(name: str) -> date | None:
        value = text(name, 10)
        if value is None:
            return None
        try:
            if len(value) != 10:
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            errors[name] = ["a date written YYYY-MM-DD, e.g. 2026-12-01"]
            return None

    date_from, date_to = day("from"), day("to")
    if date_from and date_to and date_to < date_from:
        errors["to"] = ["must not be before the start date"]
    period = text("period", 20) or "active"
    if period not in PERIODS:
        errors["period"] = [f"one of {', '.join(PERIODS)}"]
    status = text("status", 20)
    if status is not None and status not in CASE_STATUSES:
        errors["status"] = [f"one of {', '.join(CASE_STATUSES)}"]
    goal_text = text("goal", 3)
    goal = None
    if goal_text is not None:
        if goal_text.isascii() and goal_text.isdigit() and int(goal_text) in GOALS:
            goal = int(goal_text)
        else:
            errors["goal"] = ["a goal number from 1 to 17"]
    unit = text("unit", MAX_TEXT)
    process = text("process", 100)
    if errors:
        raise InvalidInput("some filters need attention", errors)
    return Filters(date_from, date_to, period, unit, process, goal, status)


# ---------------------------------------------------------------- who may read it


def is_manager(session: Session, actor: Actor) -> bool:
    """Someone others report to (user_account.manager_username)."""
    return session.execute(select(exists().where(UserAccount.manager_username == actor.username,
                                                 UserAccount.is_active.is_(True)))).scalar_one()


def may_read(session: Session, actor: Actor) -> bool:
    return actor.sees_all_cases or is_manager(session, actor)


def may_read_portfolio(ctx: AppContext, actor: Actor) -> bool:
    """For the navigation: innovation leads, administrators and managers."""
    with ctx.uow.read() as tx:
        return may_read(tx.session, actor)


def visible_case_ids(session: Session, actor: Actor) -> list[int] | None:
    """The ids of the cases `actor` may see, read once per portfolio; None for those who see every case.

    The rule of the case pages, as queries/search.py:visible_cases writes it (tests hold the
    two to the same answer): the reader's own cases, cases where the reader or someone
    reporting to them is or was assignee or finisher of a task, and cases with a task for a
    group of the reader's or of such a person's. Written as a UNION of index look-ups
    (human_task by assignee, by finisher, by group; migration 0024) instead of an EXISTS per
    case: the portfolio asks once and passes the ids to each of its queries, where the EXISTS
    cost a manager's page two seconds, once per query over all 20,000 cases.
    """
    if actor.sees_all_cases:
        return None
    reports = list(session.scalars(select(UserAccount.username).where(UserAccount.manager_username == actor.username)))
    people = sorted({actor.username, *reports})
    groups = set(actor.groups)
    if reports:
        groups |= set(session.scalars(
            select(UserGroup.name).join(GroupMember, GroupMember.group_id == UserGroup.id)
            .join(UserAccount, UserAccount.id == GroupMember.user_id).where(UserAccount.username.in_(reports))))
    parts = [select(Case.id.label("case_id")).where(Case.owner == actor.username),
             select(HumanTask.case_id).where(HumanTask.assignee.in_(people)),
             select(HumanTask.case_id).where(HumanTask.closed_by.in_(people))]
    if groups:
        parts.append(select(HumanTask.case_id).where(HumanTask.candidate_group.in_(sorted(groups))))
    return sorted(session.scalars(union(*parts)))


class Chosen:
    """Case ids given to a query as one parameter: a JSON array read by json_each on SQLite, an array on PostgreSQL.

    One parameter however many cases (no IN list of thousands of placeholders, no limit on
    how many), written once and reused by every query of the page. Both databases read it
    as a set (`IN (SELECT ...)`: an ephemeral index on SQLite, a hashed semi-join or index
    look-ups on PostgreSQL); PostgreSQL's `= ANY(array)` instead compared each row with the
    whole array and took 16 s for 1,200 ids over 59,000 stays on a table not yet analysed.
    """

    def __init__(self, session: Session, ids: Iterable[int]) -> None:
        self.ids = list(ids)
        self.dialect = session.get_bind().dialect.name
        if self.dialect == "postgresql":
            self._param = "{" + ",".join(str(int(i)) for i in self.ids) + "}"
        else:
            self._param = json.dumps([int(i) for i in self.ids])

    def holds(self, column: Any) -> Any:
        """`column` is one of the chosen cases, as a WHERE clause."""
        if not self.ids:
            return false()
        if self.dialect == "postgresql":  # a set to hash, never `= ANY(...)` tried against each row
            ids: Any = select(func.unnest(cast(bindparam(None, self._param, String()), ARRAY(BigInteger()))))
        elif self.dialect == "sqlite":
            ids = select(literal_column("value")).select_from(func.json_each(bindparam(None, self._param, String())))
        else:
            ids = self.ids
        return column.in_(ids)


# ---------------------------------------------------------------- working days, percentiles


@lru_cache(maxsize=256)
def _year(year: int) -> tuple[tuple[int, ...], int]:
    """Working days up to and including each day of `year`, and the year's total."""
    counts, total, day = [], 0, date(year, 1, 1)
    while day.year == year:
        total += is_working_day(day)
        counts.append(total)
        day += timedelta(days=1)
    return tuple(counts), total


@lru_cache(maxsize=256)
def _before(year: int) -> int:
    """Working days from 1 January 1970 up to the start of `year`."""
    if year <= 1970:
        return 0
    return _before(year - 1) + _year(year - 1)[1]


def _working_number(day: date) -> int:
    return _before(day.year) + _year(day.year)[0][day.timetuple().tm_yday - 1]


def working_days(start: datetime, end: datetime) -> int:
    """Working days after `start` up to and including `end`, by Stockholm dates (as calendar.working_days_between)."""
    return _working_number(end.astimezone(STOCKHOLM).date()) - _working_number(start.astimezone(STOCKHOLM).date())


def median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def p90(values: list[int]) -> float | None:
    """The nearest-rank 90th percentile: a value that occurred."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)])


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


# ---------------------------------------------------------------- the read


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), STOCKHOLM)


def _period(table: Any, filters: Filters) -> list[Any]:
    """The period (and the process and status) as WHERE clauses on a table with the case's own fields."""
    where: list[Any] = []
    if filters.process:
        where.append(table.process_key == filters.process)
    if filters.status:
        where.append(table.status == filters.status)
    start = _day_start(filters.date_from) if filters.date_from else None
    end = _day_start(filters.date_to + timedelta(days=1)) if filters.date_to else None
    if filters.period == "started":
        if start:
            where.append(table.created_at >= start)
        if end:
            where.append(table.created_at < end)
    else:  # active at some time in the range: started before its end, not closed before its start
        if end:
            where.append(table.created_at < end)
        if start:
            where.append(or_(table.closed_at.is_(None), table.closed_at >= start))
    return where


def _narrower(table: Any, filters: Filters) -> list[Any]:
    """The unit and goal filters as WHERE clauses on a summary table (its copy of the case's unit and goals)."""
    where: list[Any] = []
    if filters.unit:
        where.append(table.unit_key == filters.unit.casefold())
    if filters.goal:
        where.append(table.goals.op("&")(1 << filters.goal) != 0)
    return where


FEW = 8  # a selection of at most 1/FEW of the cases is counted through its case ids


@dataclass(frozen=True)
class Selection:
    """The cases one read counts: as their ids, or as the filters for each summary table to apply itself.

    A selection of a few cases, or of those a reader who does not see every case may see,
    is held as its case ids (`cases`), given to every query as one parameter: each table
    is read for just those cases. A broad one is held as its filters: every summary row
    carries its case's filter fields (PortfolioSelectable), so each table is counted along
    its own grouping index, checking them, instead of looking each of its rows up in a
    list of thousands of ids. `chosen` is how many cases the selection holds; `narrow`
    says it is at most half of them, so the long lists are cut from the matching rows
    rather than read along their index.
    """

    filters: Filters  # those still to apply: none when they leave out no case, or the ids say it all
    cases: Chosen | None  # the chosen cases' ids; None: the filters say which
    chosen: int | None  # None: not counted (every case)
    narrow: bool
    units: tuple[str, ...]  # the units of the cases the reader may see in the selection before unit and goal
    processes: tuple[str, ...]

    @property
    def restricts(self) -> bool:
        return self.cases is not None or self.filters != Filters()

    def holds(self, table: Any) -> Any:
        """The rows of `table` in the selection, as a WHERE clause.

        `table` has a case_id; held as filters, it is a summary table (the filter fields).
        """
        if self.cases is not None:
            return self.cases.holds(table.case_id)
        return and_(true(), *_period(table, self.filters), *_narrower(table, self.filters))


def select_cases(session: Session, actor: Actor, filters: Filters) -> Selection:
    """The selection of one read: the reader's visible case ids (read once), the filters, and what the form offers.

    The visible cases that pass the period, process and status give the units and
    processes the filter form offers, and, with the unit and goal filters too, how many
    cases the page counts, in one pass over portfolio_case. A few of them, or any for a
    reader who does not see every case, are then read as ids. All queries of a read see
    one snapshot (read_portfolio), so they agree.
    """
    visible_ids = visible_case_ids(session, actor)
    pc = PortfolioCase
    if visible_ids is None and filters == Filters():
        units = {u for u in session.scalars(select(pc.unit).where(pc.unit.is_not(None)).distinct())}
        processes = set(session.scalars(select(Case.process_key).distinct()))
        return Selection(filters, None, None, False, tuple(sorted(units, key=str.casefold)), tuple(sorted(processes)))
    where = _period(pc, filters)
    if visible_ids is not None:
        where.append(Chosen(session, visible_ids).holds(pc.case_id))
    narrower = _narrower(pc, filters)
    offered = session.execute(
        select(pc.unit, pc.process_key, func.count(case((and_(*narrower), 1))) if narrower else func.count())
        .where(*where).group_by(pc.unit, pc.process_key)).all()
    units = tuple(sorted({u for u, _p, _n in offered if u}, key=str.casefold))
    processes = tuple(sorted({p for _u, p, _n in offered}))
    chosen = sum(n for _u, _p, n in offered)
    every = session.execute(select(func.count()).select_from(pc)).scalar_one() if visible_ids is None else None
    if every is not None and chosen == every:  # the filters leave no case out (one process, say): nothing to apply
        return Selection(Filters(), None, chosen, False, units, processes)
    if every is None or chosen * FEW <= every:
        ids = Chosen(session, session.scalars(select(pc.case_id).where(*where, *narrower)))
        return Selection(Filters(), ids, chosen, True, units, processes)
    return Selection(filters, None, chosen, 2 * chosen <= every, units, processes)


def _goals(value: Any) -> set[int]:
    if not isinstance(value, list):
        return set()
    return {g for g in value if isinstance(g, int) and not isinstance(g, bool) and g in GOALS}


def _unit(value: Any) -> str | None:
    return " ".join(value.split())[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def _amount(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_portfolio(ctx: AppContext, actor: Actor, filters: Filters | None = None, *,
                   full: bool = True) -> Portfolio:
    """The portfolio of the cases in `filters` that `actor` may see (Forbidden unless a lead, admin or manager).

    `full=False` (the page) keeps the long lists (reasons, overdue tasks) to their newest
    PAGE_ROWS rows; their totals are in `figures`. Exports ask for everything. Every query
    of one read sees the same snapshot (on PostgreSQL a read-only REPEATABLE READ
    transaction), so the tables agree with each other and with the selection found first.
    """
    filters = filters or Filters()
    with ctx.uow.read() as tx:
        session = tx.session
        if not may_read(session, actor):
            raise Forbidden("the portfolio is for innovation leads, administrators and managers")
        if filters.process and not session.execute(select(exists().where(
                ProcessVersion.process_key == filters.process))).scalar_one():
            raise InvalidInput("unknown process", {"process": ["no process with this key is deployed"]})
        stale = _stale(session)
    if stale:
        summarise(ctx, stale)
    with ctx.uow.read() as tx:
        if tx.session.get_bind().dialect.name == "postgresql":  # SQLite's read transaction is one snapshot already
            tx.session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        return _read(tx.session, actor, filters, full)


# ---------------------------------------------------------------- summaries of each case's history

WINDOW = 10_000  # history ids that may commit out of order (PostgreSQL sequences) are looked at again
CHUNK = 500
ANALYSE_AFTER = 1_000  # summaries written in one go after which the planners get fresh statistics


def _stale(session: Session) -> list[int]:
    """Cases with history rows newer than their summary (or none yet).

    Only the newest history rows are looked at (from WINDOW below the newest summarised
    row, index on `mark`), joined to their case's summary by key, so the usual answer,
    nothing, costs a range of the history's primary key and no grouping.
    """
    watermark = session.execute(select(func.max(PortfolioCase.mark))).scalar_one()
    if watermark is None:  # nothing summarised yet: every case with a history
        return sorted(session.scalars(select(CaseEvent.case_id).distinct()))
    pc = PortfolioCase
    newer = session.scalars(
        select(CaseEvent.case_id).outerjoin(pc, pc.case_id == CaseEvent.case_id)
        .where(CaseEvent.id > watermark - WINDOW, or_(pc.mark.is_(None), pc.mark < CaseEvent.id)))
    return sorted(set(newer))


def _stale_cases(ctx: AppContext) -> list[int]:
    with ctx.uow.read() as tx:
        return _stale(tx.session)


def summarise(ctx: AppContext, case_ids: list[int]) -> int:
    """Rebuild the summaries of these cases from their history; returns how many were written.

    Two readers summarising the same case at once both write the same rows: the one that
    loses the race on PostgreSQL's primary key gives way (the other's rows stand).
    """
    written = 0
    for start in range(0, len(case_ids), CHUNK):
        chunk = case_ids[start:start + CHUNK]
        try:
            with ctx.uow.write() as tx:
                written += _summarise(tx.session, chunk)
                tx.commit()
        except IntegrityError:
            continue
    if written >= ANALYSE_AFTER:
        _analyse(ctx)
    return written


def _analyse(ctx: AppContext) -> None:
    """Fresh planner statistics for the summaries after a rebuild of many (the first read after a deploy).

    Without them PostgreSQL plans the page's joins for empty tables until autovacuum
    comes round (if it is on at all), and SQLite has no statistics of its own.
    """
    with ctx.uow.write() as tx:
        for table in (PortfolioCase, PortfolioStay, PortfolioGate):
            tx.session.execute(text(f"ANALYZE {table.__tablename__}"))
        tx.commit()


def _summarise(session: Session, ids: list[int]) -> int:
    fact_keys = (*UNIT_FIELDS, GOAL_FIELD, *REQUESTED_FIELDS, GRANTED_FIELD)
    cases = {r.id: r for r in session.execute(select(Case.id, Case.status, Case.closed_at, Case.created_at,
                                                     Case.process_key).where(Case.id.in_(ids)))}
    marks = dict(session.execute(select(CaseEvent.case_id, func.max(CaseEvent.id))
                                 .where(CaseEvent.case_id.in_(ids)).group_by(CaseEvent.case_id)).all())
    started = session.execute(
        select(CaseEvent.case_id, *[CaseEvent.data[("data", k)].as_string() for k in UNIT_FIELDS],
               CaseEvent.data[("data", GOAL_FIELD)])
        .where(CaseEvent.kind == "case_started", CaseEvent.case_id.in_(ids))).all()
    records = session.execute(
        select(StageRecord.case_id, StageRecord.at, StageRecord.event_id, StageRecord.id,
               *[StageRecord.data[k] for k in fact_keys])
        .where(StageRecord.case_id.in_(ids), or_(*[StageRecord.data[k].as_string().is_not(None) for k in fact_keys]))
        .order_by(StageRecord.case_id, StageRecord.at, StageRecord.id)).all()
    stage_rows = session.execute(
        select(CaseEvent.case_id, CaseEvent.at, CaseEvent.data["stage"].as_integer())
        .where(CaseEvent.kind == "stage_entered", CaseEvent.case_id.in_(ids))
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)).all()
    decisions = session.execute(
        select(GateDecision.case_id, GateDecision.gate, GateDecision.gate_name, GateDecision.stage,
               GateDecision.round, GateDecision.outcome, GateDecision.reason, GateDecision.at,
               GateDecision.event_id, GateDecision.id, HumanTask.created_at,
               GateDecision.data[GATE_APPROVED_FIELD])
        .outerjoin(HumanTask, HumanTask.id == GateDecision.task_id)
        .where(GateDecision.case_id.in_(ids))
        .order_by(GateDecision.case_id, GateDecision.at, GateDecision.id)).all()

    unit_of: dict[int, str] = {}
    goals_of: dict[int, set[int]] = {}
    for case_id, unit, need_owner, goals in started:
        if (u := _unit(unit) or _unit(need_owner)) is not None:
            unit_of[case_id] = u
        if g := _goals(goals):
            goals_of[case_id] = g
    for row in records:  # in order: the latest record naming a unit or goals wins
        if (u := _unit(row[4]) or _unit(row[5])) is not None:
            unit_of[row.case_id] = u
        if isinstance(row[6], list):
            goals_of[row.case_id] = _goals(row[6])
    visits: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for case_id, at, stage in stage_rows:
        if isinstance(stage, int):
            visits[case_id].append((at, stage))
    decided: dict[int, list[Any]] = defaultdict(list)
    for d in decisions:
        decided[d.case_id].append(d)
    budgets = _budgets(records, decisions)

    session.execute(delete(PortfolioGate).where(PortfolioGate.case_id.in_(ids)))
    session.execute(delete(PortfolioStay).where(PortfolioStay.case_id.in_(ids)))
    session.execute(delete(PortfolioCase).where(PortfolioCase.case_id.in_(ids)))
    case_rows, stay_rows, gate_rows = [], [], []
    for case_id, c in cases.items():
        goals_mask = sum(1 << g for g in goals_of.get(case_id, ()))
        unit = unit_of.get(case_id)
        fields = {"case_id": case_id, "created_at": c.created_at, "closed_at": c.closed_at,
                  "process_key": c.process_key, "status": c.status, "unit_key": unit.casefold() if unit else None,
                  "goals": goals_mask}  # what the filters read, on every summary row of the case
        stages_mask = 0
        spent: dict[int, int] = {}
        seq = visits.get(case_id, [])
        for i, (start, stage) in enumerate(seq):
            if 0 <= stage < 31:
                stages_mask |= 1 << stage
            end = seq[i + 1][0] if i + 1 < len(seq) else c.closed_at
            if end is not None:  # a stage the case has left (the last one: when it closed)
                spent[stage] = spent.get(stage, 0) + working_days(start, end)
        stay_rows += [{**fields, "stage": s, "working_days": d} for s, d in spent.items()]
        mine = decided.get(case_id, [])
        last_at_gate = {d.gate: d.id for d in mine}
        gate_rows += [{**fields, "decision_id": d.id, "gate": d.gate, "gate_name": d.gate_name,
                       "stage": d.stage, "outcome": d.outcome,
                       "lead_days": max(0, working_days(d.created_at, d.at)) if d.created_at else None,
                       "last": last_at_gate[d.gate] == d.id,
                       "reasoned": d.reason is not None and d.outcome not in APPROVING} for d in mine]
        final = None
        if c.status == "terminated":
            final = "terminated"
        elif c.status == "completed":
            final = mine[-1].outcome if mine else "completed"
        implemented = bool(mine and mine[-1].outcome in IMPLEMENTED_OUTCOMES) or bool(
            stages_mask & (1 << IMPLEMENTATION_STAGE))
        b = budgets.get(case_id, {})
        case_rows.append({**fields, "mark": marks.get(case_id, 0), "unit": unit, "stages": stages_mask,
                          "final_outcome": final, "implemented": implemented,
                          "pilot_requested": b.get(("requested", "pilot_budget")),
                          "pilot_approved": b.get(("approved", "pilot_budget")),
                          "implementation_requested": b.get(("requested", "implementation_budget")),
                          "implementation_approved": b.get(("approved", "implementation_budget"))})
    if case_rows:
        session.execute(insert(PortfolioCase), case_rows)
    if stay_rows:
        session.execute(insert(PortfolioStay), stay_rows)
    if gate_rows:
        session.execute(insert(PortfolioGate), gate_rows)
    return len(case_rows)


def _budgets(records: Iterable[Any], decisions: Iterable[Any]) -> dict[int, dict[tuple[str, str], int]]:
    """Requested and approved amounts per case and kind of budget.

    A budget is requested in a stage record (the concept's pilot budget, the evaluation's
    implementation budget; a later round replaces the earlier request). The next gate
    decision that approves takes it as approved, at the amount the gate states
    (`approved_budget`) if it states one; the pilot's granted budget, when recorded, is the
    approved pilot budget.
    """
    steps: dict[int, list[tuple[Any, str, Any]]] = defaultdict(list)
    for r in records:
        steps[r.case_id].append(((r.at, r.event_id or 0, 0, r.id), "record", r))
    for d in decisions:
        steps[d.case_id].append(((d.at, d.event_id or 0, 1, d.id), "decision", d))
    out: dict[int, dict[tuple[str, str], int]] = {}
    for case_id, items in steps.items():
        found: dict[tuple[str, str], int] = {}
        pending: dict[str, int] = {}
        for _order, what, item in sorted(items, key=lambda x: x[0]):
            if what == "record":
                for index, name in enumerate(REQUESTED_FIELDS):
                    amount = _amount(item[7 + index])
                    if amount is not None:
                        found[("requested", name)] = amount
                        pending[name] = amount
                granted = _amount(item[9])
                if granted is not None:
                    found[("approved", "pilot_budget")] = granted
            elif pending and item.outcome in APPROVING:
                stated = _amount(item[11])
                for name, amount in pending.items():
                    found[("approved", name)] = stated if stated is not None and len(pending) == 1 else amount
                pending = {}
        if found:
            out[case_id] = found
    return out


# ---------------------------------------------------------------- the read: SQL aggregates over the summaries


def _percentiles(histogram: Iterable[tuple[int, int]]) -> tuple[int, float | None, float | None]:
    """(count, median, nearest-rank p90) from (value, how many) pairs: exact, without the single values."""
    pairs = sorted((v, n) for v, n in histogram if v is not None)
    total = sum(n for _v, n in pairs)
    if not total:
        return 0, None, None

    def nth(k: int) -> int:  # the k-th smallest value, 0-based
        seen = 0
        for value, n in pairs:
            seen += n
            if k < seen:
                return value
        return pairs[-1][0]

    mid = total // 2
    med = float(nth(mid)) if total % 2 else (nth(mid - 1) + nth(mid)) / 2
    return total, med, float(nth(max(0, math.ceil(0.9 * total) - 1)))


def _read(session: Session, actor: Actor, filters: Filters, full: bool) -> Portfolio:
    at = now()
    selection = select_cases(session, actor, filters)
    within = selection.holds
    pc = PortfolioCase

    # Small GROUP BYs over the summaries (bit sets of stages and goals), counted up here.
    entered: Counter[int] = Counter()
    ended: Counter[str] = Counter()
    n_cases = closed = implemented = implemented_closed = 0
    for stages, final, done, n in session.execute(
            select(pc.stages, pc.final_outcome, pc.implemented, func.count()).where(within(pc))
            .group_by(pc.stages, pc.final_outcome, pc.implemented)):
        n_cases += n
        for stage in range(31):
            if stages >> stage & 1:
                entered[stage] += n
        if final is not None:
            closed += n
            ended[final] += n
        if done:
            implemented += n
            implemented_closed += n if final is not None else 0
    requested_any = or_(pc.pilot_requested.is_not(None), pc.implementation_requested.is_not(None))
    approved_any = or_(pc.pilot_approved.is_not(None), pc.implementation_approved.is_not(None))
    budget_values = [int(v or 0) for v in session.execute(
        select(func.count(pc.pilot_requested), func.sum(pc.pilot_requested),
               func.count(pc.pilot_approved), func.sum(pc.pilot_approved),
               func.count(pc.implementation_requested), func.sum(pc.implementation_requested),
               func.count(pc.implementation_approved), func.sum(pc.implementation_approved),
               func.sum(case((requested_any, 1), else_=0)), func.sum(case((approved_any, 1), else_=0)))
        .where(within(pc), or_(requested_any, approved_any))).one()]
    goal_counts: Counter[int] = Counter()
    with_goals = 0
    for goals, n in session.execute(select(pc.goals, func.count()).where(within(pc), pc.goals != 0)
                                    .group_by(pc.goals)):
        with_goals += n
        for goal in GOALS:
            if goals >> goal & 1:
                goal_counts[goal] += n
    units, processes = selection.units, selection.processes

    tables: list[Table] = []
    _funnel(entered, tables)
    pg = PortfolioGate
    gate_rows = session.execute(
        select(pg.gate, pg.stage, pg.outcome, pg.last, pg.lead_days, func.count(), func.max(pg.gate_name),
               pg.reasoned)
        .where(within(pg)).group_by(pg.gate, pg.stage, pg.outcome, pg.last, pg.lead_days, pg.reasoned)).all()
    _gates(gate_rows, tables)
    reasoned = sum(row[5] for row in gate_rows if row[7])  # decisions with a reason that did not approve
    stays = session.execute(select(PortfolioStay.stage, PortfolioStay.working_days, func.count())
                            .where(within(PortfolioStay))
                            .group_by(PortfolioStay.stage, PortfolioStay.working_days)).all()
    per_stage: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for stage, days, n in stays:
        per_stage[stage].append((days, n))
    tables.append(Table("stage_times", "Tid i steg (arbetsdagar)", (
        Column("stage", "Steg", "stage"), Column("cases", "Ärenden som lämnat steget", "int"),
        Column("median", "Median (arbetsdagar)", "days"), Column("p90", "90:e percentilen (arbetsdagar)", "days")),
        tuple((stage, *_percentiles(h)) for stage, h in sorted(per_stage.items()))))
    outcome_rows = list(ended.items())
    tables.append(Table("outcomes", "Utfall för avslutade ärenden", (
        Column("outcome", "Utfall", "outcome"), Column("cases", "Ärenden", "int"),
        Column("share", "Andel av avslutade, procent", "percent")),
        tuple((o, n, _share(n, closed)) for o, n in sorted(outcome_rows, key=lambda r: (-r[1], r[0])))))
    reasons_total = _reasons(session, selection, reasoned, full, tables)
    figures = {"cases": n_cases, "closed": closed, "implemented": implemented,
               "implemented_closed": implemented_closed, "share_of_cases": _share(implemented, n_cases),
               "share_of_closed": _share(implemented_closed, closed)}
    tables.append(Table("implemented", "Andel genomförda", (
        Column("measure", "Mått", "term"), Column("cases", "Ärenden", "int"),
        Column("implemented", "Genomförda", "int"),
        Column("share", "Andel genomförda, procent", "percent")), (
        ("Alla ärenden i urvalet", n_cases, implemented, figures["share_of_cases"]),
        ("Avslutade ärenden", closed, implemented_closed, figures["share_of_closed"]))))
    tables.append(Table("goals", "Täckning av Agenda 2030-målen", (
        Column("goal", "Mål", "goal"), Column("goal_name", "Målet", "term"), Column("cases", "Ärenden", "int"),
        Column("share", "Andel av ärendena, procent", "percent")),
        tuple((g, GOALS[g], goal_counts[g], _share(goal_counts[g], n_cases)) for g in GOALS)
        + (("", "Ärenden som anger minst ett mål", with_goals, _share(with_goals, n_cases)),)))
    _budget(budget_values, tables)
    overdue_total = _overdue(session, selection, at, full, tables)
    order = {key: i for i, key in enumerate(TABLE_KEYS)}
    tables.sort(key=lambda t: order[t.key])
    return Portfolio(filters, at, n_cases, actor.sees_all_cases, tuple(tables), units, processes,
                     {"implemented": figures, "reasons": reasons_total, "overdue": overdue_total})


def _funnel(entered: Mapping[int, int], tables: list[Table]) -> None:
    stages = sorted(set(STAGES) | {s for s, n in entered.items() if n})
    reached = [s for s in stages if entered.get(s)]
    first = entered[min(reached)] if reached else 0
    rows, previous = [], None
    for stage in stages:
        n = entered.get(stage, 0)
        rows.append((stage, n, _share(n, first), _share(n, previous) if previous is not None else None))
        previous = n
    tables.append(Table("funnel", "Tratt: ärenden som nått varje steg", (
        Column("stage", "Steg", "stage"), Column("cases", "Ärenden", "int"),
        Column("share_of_first", "Andel av alla som startat, procent", "percent"),
        Column("share_of_previous", "Andel av föregående steg, procent", "percent")), tuple(rows)))


def _gates(gate_rows: list[Any], tables: list[Table]) -> None:
    """Per gate: cases decided, cases let through (a last decision that approves), the conversion; lead times."""
    names: dict[tuple[int, str], str] = {}
    rounds: Counter[tuple[int, str]] = Counter()
    last: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    lead: dict[tuple[int, str], Counter[int]] = defaultdict(Counter)
    for gate, stage, outcome, is_last, lead_days, n, name, _reasoned in gate_rows:
        key = (stage if stage is not None else 999, gate)
        names[key] = max(names.get(key, ""), name)
        rounds[key] += n
        if is_last:
            last[key][outcome] += n
        if lead_days is not None:
            lead[key][lead_days] += n
    rows = []
    for key in sorted(last):
        outcomes = last[key]
        decided = sum(outcomes.values())
        through = sum(n for o, n in outcomes.items() if o in APPROVING)
        stopped = sum(n for o, n in outcomes.items() if o in CLOSING_WORDS and o not in APPROVING)
        rows.append((key[1], names[key], key[0] if key[0] != 999 else None, rounds[key], decided, through,
                     stopped, decided - through - stopped, _share(through, decided)))
    tables.append(Table("gates", "Konvertering vid varje grind", (
        Column("gate", "Grind (id)"), Column("gate_name", "Grind"), Column("stage", "Steg", "stage"),
        Column("decisions", "Beslut (alla omgångar)", "int"), Column("cases", "Ärenden med beslut", "int"),
        Column("approved", "Godkända", "int"), Column("stopped", "Stoppade", "int"),
        Column("other", "Övriga (vilande, komplettering, åter)", "int"),
        Column("conversion", "Konvertering, procent", "percent")), tuple(rows)))
    tables.append(Table("gate_times", "Ledtid vid grindarna (arbetsdagar)", (
        Column("gate", "Grind (id)"), Column("gate_name", "Grind"), Column("stage", "Steg", "stage"),
        Column("decisions", "Beslut", "int"), Column("median", "Median (arbetsdagar)", "days"),
        Column("p90", "90:e percentilen (arbetsdagar)", "days")),
        tuple((key[1], names[key], key[0] if key[0] != 999 else None, *_percentiles(lead[key].items()))
              for key in sorted(lead))))


def _long_list(session: Session, rows: Any, order: list[Any], columns: list[Any], joins: list[tuple[Any, Any]],
               full: bool, fenced: bool, known: int | None = None) -> tuple[int, list[Any]]:
    """(how many, the first PAGE_ROWS or all) of the rows of a long list, in `order`.

    Over a narrow selection (`fenced`) the matching rows are materialised first, a fence
    to both planners, then counted and sorted in one statement: ordering a LIMIT along an
    index and filtering on the way can read the whole table when the selection has few
    such rows (PostgreSQL took 0.6 s over a running selection without reasons). Over every
    case, or most of them, the first rows along the index are cheaper than sorting them
    all, and the count is `known` from an aggregate the page read anyway, or counted.
    """
    if fenced:
        found = rows.cte("found").prefix_with("MATERIALIZED")
        page = select(found).order_by(*[o(found) for o in order])
        page = (page if full else page.limit(PAGE_ROWS)).subquery("page")
        total: Any = select(func.count()).select_from(found).scalar_subquery()
    else:
        page = rows.subquery("page")
        total = None
    query = select(*columns, *([total] if fenced else [])).select_from(page)
    for table, on in joins:
        query = query.join(table, on(page))
    query = query.order_by(*[o(page) for o in order])
    if not fenced and not full:
        query = query.limit(PAGE_ROWS)
    out = session.execute(query).all()
    if fenced:
        return (out[0][-1] if out else 0), [r[:-1] for r in out]
    if known is not None:
        count = known
    else:
        count = len(out) if full else session.execute(select(func.count()).select_from(rows.subquery())).scalar_one()
    return count, list(out)


def _reasons(session: Session, selection: Selection, reasoned: int, full: bool, tables: list[Table]) -> int:
    """The reasons given for decisions that did not approve, newest first; secret-marked reasons left out.

    The decisions with such a reason are marked on their summaries (`reasoned`), which
    carry the selection's fields. A narrow selection's reasons are found among its cases'
    decisions, or from their summaries; a broad one's by reading the decisions newest
    first, keeping those in the selection, until the page is full. Its total is then
    `reasoned`, how many the gates' aggregate found, less those of cases with a secret
    reason.
    """
    pg, gd = PortfolioGate, GateDecision
    secret_fields = (SecrecyMarking.target_kind == "field", SecrecyMarking.target.in_(("reason", "comment")))
    known = None
    if selection.cases is not None:
        rows = select(gd.id, gd.case_id, gd.at).where(
            selection.holds(gd), gd.reason.is_not(None), gd.outcome.not_in(sorted(APPROVING)),
            gd.case_id.not_in(select(SecrecyMarking.case_id).where(*secret_fields)))
    elif selection.narrow:
        rows = select(gd.id, gd.case_id, gd.at).join(pg, pg.decision_id == gd.id).where(
            pg.reasoned.is_(True), selection.holds(pg),
            pg.case_id.not_in(select(SecrecyMarking.case_id).where(*secret_fields)))
    else:
        rows = select(gd.id, gd.case_id, gd.at).where(
            gd.reason.is_not(None), gd.outcome.not_in(sorted(APPROVING)),
            ~exists().where(SecrecyMarking.case_id == gd.case_id, *secret_fields))
        if selection.restricts:
            rows = rows.where(exists().where(pg.decision_id == gd.id, selection.holds(pg)))
        known = reasoned - session.execute(select(func.count()).select_from(pg).where(
            pg.reasoned.is_(True), selection.holds(pg),
            pg.case_id.in_(select(SecrecyMarking.case_id).where(*secret_fields)))).scalar_one()
    total, rows = _long_list(
        session, rows, [lambda f: f.c.at.desc(), lambda f: f.c.id.desc()],
        [Case.number, gd.gate_name, gd.outcome, gd.reason, gd.at],
        [(gd, lambda f: gd.id == f.c.id), (Case, lambda f: Case.id == f.c.case_id)], full,
        selection.narrow, known)
    tables.append(Table("reasons", "Skäl till beslut som inte godkände", (
        Column("case", "Ärende"), Column("gate_name", "Grind"), Column("outcome", "Beslut", "outcome"),
        Column("reason", "Skäl"), Column("date", "Datum", "date")),
        tuple((r[0], r[1], r[2], r[3], r[4].astimezone(STOCKHOLM).date()) for r in rows)))
    return total


def _budget(v: list[int], tables: list[Table]) -> None:
    pilot, implementation = v[0:4], v[4:8]
    rows = (("Pilot", *pilot), ("Implementering", *implementation),
            ("Totalt", v[8], pilot[1] + implementation[1], v[9], pilot[3] + implementation[3]))
    tables.append(Table("budget", "Begärd och beviljad budget (kr)", (
        Column("kind", "Budget", "term"), Column("requested_cases", "Ärenden med begäran", "int"),
        Column("requested", "Begärt (kr)", "sek"), Column("approved_cases", "Ärenden med beviljad budget", "int"),
        Column("approved", "Beviljat (kr)", "sek")), rows))


def _overdue(session: Session, selection: Selection, at: datetime, full: bool, tables: list[Table]) -> int:
    rows = select(HumanTask.id, HumanTask.case_id, HumanTask.due_at).where(
        HumanTask.state == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < at)
    pc = PortfolioCase  # the selection's fields are on the case's summary
    if selection.cases is not None:  # the selection's cases' tasks
        rows = rows.where(selection.holds(HumanTask))
    elif selection.narrow:  # from the selection's cases
        rows = rows.join(pc, pc.case_id == HumanTask.case_id).where(selection.holds(pc))
    elif selection.restricts:  # along the due dates, keeping the tasks of cases in the selection
        rows = rows.where(exists().where(pc.case_id == HumanTask.case_id, selection.holds(pc)))
    total, rows = _long_list(
        session, rows,
        [lambda f: f.c.due_at, lambda f: f.c.id],
        [Case.number, Case.title, HumanTask.name, HumanTask.stage, HumanTask.assignee, HumanTask.candidate_group,
         HumanTask.due_at],
        [(HumanTask, lambda f: HumanTask.id == f.c.id), (Case, lambda f: Case.id == f.c.case_id)], full,
        selection.narrow)
    out = []
    for number, title, name, stage, assignee, group, due in rows:
        out.append((number, title, name, stage, assignee or group or "", due.astimezone(STOCKHOLM).date(),
                    max(0, working_days(due, at))))
    tables.append(Table("overdue", "Försenade uppgifter", (
        Column("case", "Ärende"), Column("title", "Rubrik"), Column("task", "Uppgift"),
        Column("stage", "Steg", "stage"), Column("who", "Hos"), Column("due", "Förfallodag", "date"),
        Column("days_overdue", "Arbetsdagar försenad", "int")), tuple(out)))
    return total


def outcome_word(outcome: str) -> str:
    """The Swedish message id of an outcome of a case or gate."""
    if outcome == "terminated":
        return "Avslutat i förtid"
    if outcome == "completed":
        return "Avslutat"
    return OUTCOMES.get(outcome, outcome)

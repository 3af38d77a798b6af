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
reports' and their groups' — by the same SQL rule as search (queries/search.py:
visible_cases). A case the reader may not see never enters any query, so it changes no
number, count, list or export. Reasons marked secret (services/secrecy.py) are left out.

The database filters and joins; Python then counts over the bounded per-case rows, because
working days (Swedish holidays, engine/calendar.py) and percentiles are not SQL either
database has. Durations are whole working days after the start up to and including the
end (calendar.working_days_between); the median is the middle value (the mean of the two
middle ones), the 90th percentile the nearest rank.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM, is_working_day
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import CLOSING_WORDS, OUTCOMES, STAGES
from iphs_flow.services.errors import Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries.search import CASE_STATUSES, visible_cases
from iphs_flow.store.tables import (
    Case,
    CaseEvent,
    GateDecision,
    HumanTask,
    ProcessVersion,
    SecrecyMarking,
    StageRecord,
    UserAccount,
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


def _selection(session: Session, actor: Actor, filters: Filters) -> Any:
    """The cases in the selection that the actor may see, as a WHERE clause on `Case` (without unit and goal)."""
    where: list[Any] = [visible_cases(session, actor)]
    if filters.process:
        where.append(Case.process_key == filters.process)
    if filters.status:
        where.append(Case.status == filters.status)
    start = _day_start(filters.date_from) if filters.date_from else None
    end = _day_start(filters.date_to + timedelta(days=1)) if filters.date_to else None
    if filters.period == "started":
        if start:
            where.append(Case.created_at >= start)
        if end:
            where.append(Case.created_at < end)
    else:  # active at some time in the range: started before its end, not closed before its start
        if end:
            where.append(Case.created_at < end)
        if start:
            where.append(or_(Case.closed_at.is_(None), Case.closed_at >= start))
    return and_(*where)


def _goals(value: Any) -> set[int]:
    if not isinstance(value, list):
        return set()
    return {g for g in value if isinstance(g, int) and not isinstance(g, bool) and g in GOALS}


def _unit(value: Any) -> str | None:
    return " ".join(value.split())[:MAX_TEXT] if isinstance(value, str) and value.strip() else None


def _amount(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_portfolio(ctx: AppContext, actor: Actor, filters: Filters | None = None) -> Portfolio:
    """The portfolio of the cases in `filters` that `actor` may see (Forbidden unless a lead, admin or manager)."""
    filters = filters or Filters()
    with ctx.uow.read() as tx:
        session = tx.session
        if not may_read(session, actor):
            raise Forbidden("the portfolio is for innovation leads, administrators and managers")
        if filters.process and not session.execute(select(exists().where(
                ProcessVersion.process_key == filters.process))).scalar_one():
            raise InvalidInput("unknown process", {"process": ["no process with this key is deployed"]})
        return _read(session, actor, filters)


def _read(session: Session, actor: Actor, filters: Filters) -> Portfolio:
    at = now()
    selection = _selection(session, actor, filters)
    scope = select(Case.id).where(selection)
    cases = {row.id: row for row in session.execute(
        select(Case.id, Case.number, Case.title, Case.status, Case.stage, Case.process_key, Case.closed_at)
        .where(selection))}

    # Unit, goals and budgets: the few fields of the stage records that carry them.
    fact_keys = (*UNIT_FIELDS, GOAL_FIELD, *REQUESTED_FIELDS, GRANTED_FIELD)
    records = session.execute(
        select(StageRecord.case_id, StageRecord.at, StageRecord.event_id, StageRecord.id,
               *[StageRecord.data[k] for k in fact_keys])
        .where(StageRecord.case_id.in_(scope), or_(*[StageRecord.data[k].as_string().is_not(None) for k in fact_keys]))
        .order_by(StageRecord.case_id, StageRecord.at, StageRecord.id)).all()
    started = session.execute(
        select(CaseEvent.case_id, *[CaseEvent.data[("data", k)] for k in (*UNIT_FIELDS, GOAL_FIELD)])
        .where(CaseEvent.kind == "case_started", CaseEvent.case_id.in_(scope))).all()
    unit_of: dict[int, str] = {}
    goals_of: dict[int, set[int]] = {}
    for case_id, unit, need_owner, goals in started:
        if (u := _unit(unit) or _unit(need_owner)) is not None:
            unit_of[case_id] = u
        if g := _goals(goals):
            goals_of[case_id] = g
    for row in records:  # in order: the latest record naming a unit or goals wins
        unit, need_owner, goals = row[4], row[5], row[6]
        if (u := _unit(unit) or _unit(need_owner)) is not None:
            unit_of[row.case_id] = u
        if isinstance(goals, list):
            goals_of[row.case_id] = _goals(goals)
    units = tuple(sorted(set(unit_of.values()), key=str.casefold))
    processes = tuple(sorted({c.process_key for c in cases.values()}))
    chosen = set(cases)
    if filters.unit:
        wanted = filters.unit.casefold()
        chosen = {c for c in chosen if (unit_of.get(c) or "").casefold() == wanted}
    if filters.goal:
        chosen = {c for c in chosen if filters.goal in goals_of.get(c, ())}

    stage_rows = session.execute(
        select(CaseEvent.case_id, CaseEvent.at, CaseEvent.data["stage"])
        .where(CaseEvent.kind == "stage_entered", CaseEvent.case_id.in_(scope))
        .order_by(CaseEvent.case_id, CaseEvent.at, CaseEvent.id)).all()
    decisions = session.execute(
        select(GateDecision.case_id, GateDecision.gate, GateDecision.gate_name, GateDecision.stage,
               GateDecision.round, GateDecision.outcome, GateDecision.reason, GateDecision.at,
               GateDecision.event_id, GateDecision.id, HumanTask.created_at,
               GateDecision.data[GATE_APPROVED_FIELD])
        .outerjoin(HumanTask, HumanTask.id == GateDecision.task_id)
        .where(GateDecision.case_id.in_(scope))
        .order_by(GateDecision.case_id, GateDecision.at, GateDecision.id)).all()
    secret_reasons = set(session.scalars(
        select(SecrecyMarking.case_id).where(SecrecyMarking.target_kind == "field",
                                             SecrecyMarking.target.in_(("reason", "comment")),
                                             SecrecyMarking.case_id.in_(scope))))
    overdue_rows = session.execute(
        select(HumanTask.case_id, HumanTask.name, HumanTask.stage, HumanTask.candidate_group, HumanTask.assignee,
               HumanTask.due_at)
        .where(HumanTask.state == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < at,
               HumanTask.case_id.in_(scope))
        .order_by(HumanTask.due_at, HumanTask.id)).all()

    records = [r for r in records if r.case_id in chosen]
    stage_rows = [r for r in stage_rows if r.case_id in chosen]
    decisions = [d for d in decisions if d.case_id in chosen]
    overdue_rows = [r for r in overdue_rows if r.case_id in chosen]

    tables: list[Table] = []
    entered = _funnel(stage_rows, tables, len(chosen))
    _gates(decisions, tables)
    _stage_times(stage_rows, {c: cases[c] for c in chosen}, tables)
    _gate_times(decisions, tables)
    implemented = _outcomes(decisions, {c: cases[c] for c in chosen}, entered, secret_reasons, tables)
    _goal_table(goals_of, chosen, tables)
    _budget(records, decisions, tables)
    _overdue(overdue_rows, cases, at, tables)
    order = {key: i for i, key in enumerate(TABLE_KEYS)}
    tables.sort(key=lambda t: order[t.key])
    return Portfolio(filters, at, len(chosen), actor.sees_all_cases, tuple(tables), units, processes,
                     {"implemented": implemented})


def _funnel(stage_rows: list[Any], tables: list[Table], total: int) -> dict[int, set[int]]:
    entered: dict[int, set[int]] = defaultdict(set)
    for case_id, _at, stage in stage_rows:
        if isinstance(stage, int):
            entered[stage].add(case_id)
    first = len(entered[min(entered)]) if entered else 0
    rows = []
    previous = None
    for stage in sorted(set(STAGES) | set(entered)):
        n = len(entered.get(stage, ()))
        rows.append((stage, n, _share(n, first), _share(n, previous) if previous is not None else None))
        previous = n
    tables.append(Table("funnel", "Tratt: ärenden som nått varje steg", (
        Column("stage", "Steg", "stage"), Column("cases", "Ärenden", "int"),
        Column("share_of_first", "Andel av alla som startat, procent", "percent"),
        Column("share_of_previous", "Andel av föregående steg, procent", "percent")), tuple(rows)))
    return entered


def _gate_key(d: Any) -> tuple[int, str]:
    return (d.stage if d.stage is not None else 999, d.gate)


def _gates(decisions: list[Any], tables: list[Table]) -> None:
    """Per gate: cases decided, cases let through (a last decision that approves), the conversion."""
    names: dict[tuple[int, str], str] = {}
    last: dict[tuple[tuple[int, str], int], str] = {}
    rounds: Counter[tuple[int, str]] = Counter()
    for d in decisions:
        key = _gate_key(d)
        names[key] = d.gate_name
        last[(key, d.case_id)] = d.outcome
        rounds[key] += 1
    per_gate: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for (key, _case), outcome in last.items():
        per_gate[key][outcome] += 1
    rows = []
    for key in sorted(per_gate):
        outcomes = per_gate[key]
        decided = sum(outcomes.values())
        through = sum(n for o, n in outcomes.items() if o in APPROVING)
        rejected = sum(n for o, n in outcomes.items() if o in CLOSING_WORDS and o not in APPROVING)
        rows.append((key[1], names[key], key[0] if key[0] != 999 else None, rounds[key], decided, through,
                     rejected, decided - through - rejected, _share(through, decided)))
    tables.append(Table("gates", "Konvertering vid varje grind", (
        Column("gate", "Grind (id)"), Column("gate_name", "Grind"), Column("stage", "Steg", "stage"),
        Column("decisions", "Beslut (alla omgångar)", "int"), Column("cases", "Ärenden med beslut", "int"),
        Column("approved", "Godkända", "int"), Column("stopped", "Stoppade", "int"),
        Column("other", "Övriga (vilande, komplettering, åter)", "int"),
        Column("conversion", "Konvertering, procent", "percent")), tuple(rows)))


def _stage_times(stage_rows: list[Any], cases: Mapping[int, Any], tables: list[Table]) -> None:
    """Working days each case spent in each stage it has left (all its visits together)."""
    spent: dict[tuple[int, int], int] = {}
    by_case: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for case_id, at, stage in stage_rows:
        if isinstance(stage, int):
            by_case[case_id].append((at, stage))
    for case_id, visits in by_case.items():
        closed = cases[case_id].closed_at
        for i, (start, stage) in enumerate(visits):
            end = visits[i + 1][0] if i + 1 < len(visits) else closed
            if end is None:
                continue  # still in this stage: not a finished stay
            spent[(case_id, stage)] = spent.get((case_id, stage), 0) + working_days(start, end)
    per_stage: dict[int, list[int]] = defaultdict(list)
    for (_case, stage), days in spent.items():
        per_stage[stage].append(days)
    rows = tuple((stage, len(v), median(v), p90(v)) for stage, v in sorted(per_stage.items()))
    tables.append(Table("stage_times", "Tid i steg (arbetsdagar)", (
        Column("stage", "Steg", "stage"), Column("cases", "Ärenden som lämnat steget", "int"),
        Column("median", "Median (arbetsdagar)", "days"), Column("p90", "90:e percentilen (arbetsdagar)", "days")),
        rows))


def _gate_times(decisions: list[Any], tables: list[Table]) -> None:
    """Working days from the gate's task opening to its decision, per decision round."""
    per_gate: dict[tuple[int, str], list[int]] = defaultdict(list)
    names: dict[tuple[int, str], str] = {}
    for d in decisions:
        if d.created_at is None:
            continue  # decided by the process itself (a timer), not waiting for a person
        key = _gate_key(d)
        names[key] = d.gate_name
        per_gate[key].append(max(0, working_days(d.created_at, d.at)))
    rows = tuple((key[1], names[key], key[0] if key[0] != 999 else None, len(v), median(v), p90(v))
                 for key, v in sorted(per_gate.items()))
    tables.append(Table("gate_times", "Ledtid vid grindarna (arbetsdagar)", (
        Column("gate", "Grind (id)"), Column("gate_name", "Grind"), Column("stage", "Steg", "stage"),
        Column("decisions", "Beslut", "int"), Column("median", "Median (arbetsdagar)", "days"),
        Column("p90", "90:e percentilen (arbetsdagar)", "days")), rows))


def _outcomes(decisions: list[Any], cases: Mapping[int, Any], entered: Mapping[int, set[int]],
              secret_reasons: set[int], tables: list[Table]) -> dict[str, Any]:
    """How the cases ended (the last decision of a closed case), the reasons given, the share implemented."""
    last: dict[int, Any] = {}
    for d in decisions:
        last[d.case_id] = d
    ended: Counter[str] = Counter()
    closed = [c for c in cases.values() if c.status in ("completed", "terminated")]
    for c in closed:
        if c.status == "terminated":
            ended["terminated"] += 1
        else:
            decision = last.get(c.id)
            ended[decision.outcome if decision else "completed"] += 1
    rows = tuple((outcome, n, _share(n, len(closed))) for outcome, n in sorted(ended.items(), key=lambda kv: -kv[1]))
    tables.append(Table("outcomes", "Utfall för avslutade ärenden", (
        Column("outcome", "Utfall", "outcome"), Column("cases", "Ärenden", "int"),
        Column("share", "Andel av avslutade, procent", "percent")), rows))

    reasons = []
    for d in reversed(decisions):  # newest first
        if d.reason and d.case_id not in secret_reasons and d.outcome not in APPROVING:
            c = cases[d.case_id]
            reasons.append((c.number, d.gate_name, d.outcome, d.reason, d.at.astimezone(STOCKHOLM).date()))
    reasons.sort(key=lambda r: r[4], reverse=True)
    tables.append(Table("reasons", "Skäl till beslut som inte godkände", (
        Column("case", "Ärende"), Column("gate_name", "Grind"), Column("outcome", "Beslut", "outcome"),
        Column("reason", "Skäl"), Column("date", "Datum", "date")), tuple(reasons)))

    implemented = {c.id for c in cases.values() if (last.get(c.id) is not None and last[c.id].outcome in
                                                    IMPLEMENTED_OUTCOMES)} | (
        entered.get(IMPLEMENTATION_STAGE, set()) & set(cases))
    closed_ids = {c.id for c in closed}
    figures = {"cases": len(cases), "closed": len(closed_ids), "implemented": len(implemented),
               "implemented_closed": len(implemented & closed_ids),
               "share_of_cases": _share(len(implemented), len(cases)),
               "share_of_closed": _share(len(implemented & closed_ids), len(closed_ids))}
    tables.append(Table("implemented", "Andel genomförda", (
        Column("measure", "Mått", "term"), Column("cases", "Ärenden", "int"),
        Column("implemented", "Genomförda", "int"),
        Column("share", "Andel genomförda, procent", "percent")), (
        ("Alla ärenden i urvalet", figures["cases"], figures["implemented"], figures["share_of_cases"]),
        ("Avslutade ärenden", figures["closed"], figures["implemented_closed"], figures["share_of_closed"]))))
    return figures


def _goal_table(goals_of: Mapping[int, set[int]], chosen: set[int], tables: list[Table]) -> None:
    counts: Counter[int] = Counter()
    for case_id in chosen:
        counts.update(goals_of.get(case_id, ()))
    with_goals = sum(1 for c in chosen if goals_of.get(c))
    rows = tuple((goal, GOALS[goal], counts[goal], _share(counts[goal], len(chosen))) for goal in GOALS)
    tables.append(Table("goals", "Täckning av Agenda 2030-målen", (
        Column("goal", "Mål", "goal"), Column("goal_name", "Målet", "term"), Column("cases", "Ärenden", "int"),
        Column("share", "Andel av ärendena, procent", "percent")),
        rows + (("", "Ärenden som anger minst ett mål", with_goals, _share(with_goals, len(chosen))),)))


def _budget(records: Iterable[Any], decisions: Iterable[Any], tables: list[Table]) -> None:
    """Requested against approved (SEK), per kind of budget.

    A budget is requested in a stage record (the concept's pilot budget, the evaluation's
    implementation budget; a later round replaces the earlier request). The next gate
    decision that approves takes it as approved, at the amount the gate states
    (`approved_budget`) if it states one; the pilot's granted budget, when recorded, is the
    approved pilot budget.
    """
    steps: dict[int, list[tuple[Any, int, str, Any]]] = defaultdict(list)
    for r in records:
        order = (r.at, r.event_id or 0, 0, r.id)
        steps[r.case_id].append((order, 0, "record", r))
    for d in decisions:
        steps[d.case_id].append(((d.at, d.event_id or 0, 1, d.id), 1, "decision", d))
    requested: dict[str, dict[int, int]] = {f: {} for f in REQUESTED_FIELDS}
    approved: dict[str, dict[int, int]] = {f: {} for f in REQUESTED_FIELDS}
    for case_id, items in steps.items():
        pending: dict[str, int] = {}
        for _order, _kind, what, item in sorted(items, key=lambda x: x[0]):
            if what == "record":
                for index, name in enumerate(REQUESTED_FIELDS):
                    amount = _amount(item[7 + index])
                    if amount is not None:
                        requested[name][case_id] = amount
                        pending[name] = amount
                granted = _amount(item[9])
                if granted is not None:
                    approved["pilot_budget"][case_id] = granted
            elif pending and item.outcome in APPROVING:
                stated = _amount(item[11])
                for name, amount in pending.items():
                    approved[name][case_id] = stated if stated is not None and len(pending) == 1 else amount
                pending = {}
    titles = {"pilot_budget": "Pilot", "implementation_budget": "Implementering"}
    rows = []
    for name in REQUESTED_FIELDS:
        req, app = requested[name], approved[name]
        rows.append((titles[name], len(req), sum(req.values()), len(app), sum(app.values())))
    rows.append(("Totalt", len(set().union(*requested.values())), sum(r[2] for r in rows),
                 len(set().union(*approved.values())), sum(r[4] for r in rows)))
    tables.append(Table("budget", "Begärd och beviljad budget (kr)", (
        Column("kind", "Budget", "term"), Column("requested_cases", "Ärenden med begäran", "int"),
        Column("requested", "Begärt (kr)", "sek"), Column("approved_cases", "Ärenden med beviljad budget", "int"),
        Column("approved", "Beviljat (kr)", "sek")), tuple(rows)))


def _overdue(rows: list[Any], cases: Mapping[int, Any], at: datetime, tables: list[Table]) -> None:
    out = []
    for case_id, name, stage, group, assignee, due in rows:
        c = cases[case_id]
        out.append((c.number, c.title, name, stage, assignee or group or "", due.astimezone(STOCKHOLM).date(),
                    max(0, working_days(due, at))))
    tables.append(Table("overdue", "Försenade uppgifter", (
        Column("case", "Ärende"), Column("title", "Rubrik"), Column("task", "Uppgift"),
        Column("stage", "Steg", "stage"), Column("who", "Hos"), Column("due", "Förfallodag", "date"),
        Column("days_overdue", "Arbetsdagar försenad", "int")), tuple(out)))


def outcome_word(outcome: str) -> str:
    """The Swedish message id of an outcome of a case or gate."""
    if outcome == "terminated":
        return "Avslutat i förtid"
    if outcome == "completed":
        return "Avslutat"
    return OUTCOMES.get(outcome, outcome)

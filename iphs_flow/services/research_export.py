"""The research export (issue 18): the portfolio as a Frictionless Data Package for KTH and RISE.

The city's accompanying research studies how its innovation capacity grows, from the
cases, their stage transitions, gate decisions, waiting times, lessons and goals. The
export writes one CSV per table and a datapackage.json describing them, row by row from
streamed reads, so a portfolio of any size is exported in flat memory.

What protects the people in it: every person is a pseudonym made with a key drawn for
this export alone (services/pseudonyms.py); free text leaves only from fields a designer
marked shareable (services/shareable.py), never from secret-marked fields
(services/secrecy.py), and is scrubbed of e-mail addresses, phone numbers, personnummer
(services/text_scrub.py) and the names of the platform's people. Every export is
recorded — who, when, the filter, the rows per file — for administrators to see.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM, is_working_day
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import OUTCOMES, STAGES
from iphs_flow.store.tables import ResearchExport

from . import research_package as package
from .errors import Forbidden, InvalidInput
from .lessons import LESSON_KEYS
from .permissions import ADMINISTRATOR, RESEARCHER, Actor
from .pseudonyms import Pseudonyms
from .queries import research as reads
from .queries.research import CaseFilter, ExportLogRow
from .secrecy import Secrets, redact, secrets_of
from .shareable import shareable_fields, shared_texts
from .text_scrub import scrub

GOAL_FIELD = "agenda2030_goals"
GOAL_NAMES = {
    1: "Ingen fattigdom", 2: "Ingen hunger", 3: "Hälsa och välbefinnande", 4: "God utbildning för alla",
    5: "Jämställdhet", 6: "Rent vatten och sanitet för alla", 7: "Hållbar energi för alla",
    8: "Anständiga arbetsvillkor och ekonomisk tillväxt", 9: "Hållbar industri, innovationer och infrastruktur",
    10: "Minskad ojämlikhet", 11: "Hållbara städer och samhällen", 12: "Hållbar konsumtion och produktion",
    13: "Bekämpa klimatförändringarna", 14: "Hav och marina resurser", 15: "Ekosystem och biologisk mångfald",
    16: "Fredliga och inkluderande samhällen", 17: "Genomförande och globalt partnerskap",
}
# The fields where the shipped evaluation and closure forms record lessons learned.
LESSON_FIELDS = LESSON_KEYS  # what worked, what did not, what others can reuse (services/lessons.py)
PROGRESS_EVERY = 500


@dataclass(frozen=True)
class ResearchExportView:
    id: int
    path: Path
    row_counts: dict[str, int]
    filter: dict[str, Any]


def may_export(actor: Actor) -> bool:
    return actor.has(RESEARCHER) or actor.has(ADMINISTRATOR)


def require_exporter(actor: Actor) -> None:
    if not may_export(actor):
        raise Forbidden("you may not take research exports (needs the role researcher or administrator)")


# ---------------------------------------------------------------- the filter


def _date(value: Any, name: str, fields: dict[str, list[str]]) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        fields[name] = ["write the date as YYYY-MM-DD, e.g. 2026-01-31"]
        return None


def parse_filter(ctx: AppContext, raw: Mapping[str, Any]) -> CaseFilter:
    """The period (`period_from`, `period_to`, ISO dates) and `process_key`; InvalidInput names each bad field."""
    fields: dict[str, list[str]] = {}
    start = _date(raw.get("period_from"), "period_from", fields)
    end = _date(raw.get("period_to"), "period_to", fields)
    if start and end and start > end:
        fields["period_to"] = ["the period must end on or after its start"]
    key = str(raw.get("process_key") or "").strip() or None
    if key is not None:
        with ctx.uow.read() as tx:
            known = reads.process_keys(tx.session)
        if key not in known:
            fields["process_key"] = [f"there is no process '{key}'" + (f"; known: {', '.join(known)}" if known else "")]
    if fields:
        raise InvalidInput("the export's filter needs attention", fields)
    return CaseFilter(start, end, key)


def filter_values(flt: CaseFilter) -> dict[str, Any]:
    return {"period_from": flt.period_from.isoformat() if flt.period_from else None,
            "period_to": flt.period_to.isoformat() if flt.period_to else None,
            "process_key": flt.process_key}


def filter_text(flt: CaseFilter) -> str:
    period = (f"cases active between {flt.period_from or 'the beginning'} and {flt.period_to or 'today'}"
              if flt.period_from or flt.period_to else "all cases")
    return period + (f", process {flt.process_key}" if flt.process_key else ", every process")


# ---------------------------------------------------------------- values as the files write them


def _when(moment: datetime | None) -> str:
    """ISO 8601 in UTC, to the second ("2026-12-01T09:30:00Z"); the stored times are UTC already."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _days(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{(end - start).total_seconds() / 86400:.2f}"


class WorkingDays:
    """Swedish working days between two moments, counted once per year of the calendar (not per row)."""

    def __init__(self) -> None:
        self._in_year: dict[int, list[int]] = {}

    def _year(self, year: int) -> list[int]:
        """counts[d] = working days from 1 January up to and including day-of-year d + 1."""
        counts = self._in_year.get(year)
        if counts is None:
            day, total, counts = date(year, 1, 1), 0, []
            while day.year == year:
                total += is_working_day(day)
                counts.append(total)
                day += timedelta(days=1)
            self._in_year[year] = counts
        return counts

    def count(self, a: date, b: date) -> int:
        """Working days after `a` up to and including `b` (as engine/calendar.py:working_days_between)."""
        if b < a:
            return -self.count(b, a)
        first, last = self._year(a.year), self._year(b.year)
        if a.year == b.year:
            return last[b.timetuple().tm_yday - 1] - first[a.timetuple().tm_yday - 1]
        total = first[-1] - first[a.timetuple().tm_yday - 1] + last[b.timetuple().tm_yday - 1]
        return total + sum(self._year(year)[-1] for year in range(a.year + 1, b.year))

    def between(self, start: datetime | None, end: datetime | None) -> str:
        if start is None or end is None:
            return ""
        return str(self.count(start.astimezone(STOCKHOLM).date(), end.astimezone(STOCKHOLM).date()))


def lessons_of(data: Mapping[str, Any], fields: frozenset[str]) -> list[tuple[str, str]]:
    """(field, text) of the lessons a stage record or gate decision holds, where its form shares them.

    The lesson fields are those the lessons library reads (services/lessons.py), at the
    evaluation, the closure and a stopping gate decision, each shared only where its form says so.
    """
    return [(name, value) for name, value in shared_texts(data, fields) if name in LESSON_FIELDS]


# ---------------------------------------------------------------- the export


class _Files:
    """The open CSV files of one export, counting rows and reporting progress."""

    def __init__(self, out_dir: Path, progress: Callable[[int], None] | None) -> None:
        self.out_dir = out_dir
        self.handles: dict[str, TextIO] = {}
        self.writers: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.progress = progress
        self._read = 0

    def open(self, table: package.TableFile) -> None:
        handle = (self.out_dir / table.path).open("w", encoding="utf-8", newline="")
        self.handles[table.name] = handle
        self.writers[table.name] = csv.writer(handle, lineterminator="\n")
        self.writers[table.name].writerow(table.header)
        self.counts[table.name] = 0

    def row(self, table: package.TableFile, values: list[Any]) -> None:
        self.writers[table.name].writerow(values)
        self.counts[table.name] += 1

    def read(self, rows: int) -> None:
        """`rows` source rows were read: move the progress bar on."""
        self._read += rows
        if self.progress is not None and self._read >= PROGRESS_EVERY:
            self.progress(self._read)
            self._read = 0

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        if self.progress is not None and self._read:
            self.progress(self._read)
            self._read = 0


class _Texts:
    """The shareable marks of each process version's forms, and the scrubbing of text that leaves."""

    def __init__(self, forms_by_version: dict[int, dict[str, Any]], people: Pseudonyms) -> None:
        self._forms = forms_by_version
        self._marks: dict[tuple[int, str | None], frozenset[str]] = {}
        self.people = people

    def shareable(self, version_id: int, form_key: str | None) -> frozenset[str]:
        key = (version_id, form_key)
        marks = self._marks.get(key)
        if marks is None:
            forms = self._forms.get(version_id) or {}
            if form_key is None:  # no form named: whatever any form of the version shares (the case title)
                marks = frozenset().union(*(shareable_fields((f or {}).get("schema")) for f in forms.values()))
            else:
                marks = shareable_fields((forms.get(form_key) or {}).get("schema"))
            self._marks[key] = marks
        return marks

    def clean(self, text: str) -> str:
        return self.people.scrub_names(scrub(text)).strip()


def _with_secrets(session: Any, partitions: Iterator[Any], files: _Files) -> Iterator[tuple[Any, Secrets]]:
    """Each streamed row with the secrecy markings of its case, looked up once per partition."""
    for rows in partitions:
        marked = secrets_of(session, {row.case_id for row in rows})
        for row in rows:
            yield row, marked[row.case_id]
        files.read(len(rows))


def _write_cases(session: Any, flt: CaseFilter, files: _Files, texts: _Texts, people: Pseudonyms,
                 workdays: WorkingDays) -> None:
    for rows in reads.cases(session, flt):
        marked = secrets_of(session, [row.id for row in rows])
        for row in rows:
            title = ""
            if "title" in texts.shareable(row.process_version_id, None) and not marked[row.id].hides("title"):
                title = texts.clean(row.title or "")
            files.row(package.CASES, [
                row.id, row.process_key, row.version, row.status, row.stage if row.stage is not None else "",
                STAGES.get(row.stage, "") if row.stage is not None else "", _when(row.created_at),
                _when(row.closed_at), _days(row.created_at, row.closed_at),
                workdays.between(row.created_at, row.closed_at), people.of(row.owner), title])
        files.read(len(rows))


def stage_visits(tasks: list[tuple[int, datetime, datetime | None]],
                 case_closed_at: datetime | None) -> list[tuple[int, int | None, datetime, datetime | None]]:
    """(stage, from stage, entered, left) for each visit, replaying the case's staged tasks as the case did.

    `tasks` are (stage, opened, closed) in the order they opened. A case stands in the
    highest stage among its open tasks (as services/case_sync.py sets `case.stage`) and
    keeps its stage while no staged task is open, so this replay gives the stages the case
    went through whatever its process version said. Opening and closing at the same moment
    (one step) are put in the order they happened: a task closes before the next one opens.
    """
    moves: list[tuple[datetime, float, int, int]] = []  # (when, order, +1 open / -1 close, stage)
    for order, (stage, opened, closed) in enumerate(tasks):
        moves.append((opened, order, 1, stage))
        if closed is not None:
            moves.append((closed, order + 0.5, -1, stage))
    moves.sort(key=lambda m: (m[0], m[1]))
    open_stages: dict[int, int] = {}
    visits: list[tuple[int, int | None, datetime, datetime | None]] = []
    current: int | None = None
    for moment, _order, change, stage in moves:
        open_stages[stage] = open_stages.get(stage, 0) + change
        if not open_stages[stage]:
            del open_stages[stage]
        if not open_stages:
            continue
        now_in = max(open_stages)
        if now_in != current:
            if visits:
                visits[-1] = (*visits[-1][:3], moment)
            visits.append((now_in, current, moment, None))
            current = now_in
    if visits and case_closed_at is not None and visits[-1][3] is None:
        visits[-1] = (*visits[-1][:3], case_closed_at)
    return visits


def _write_transitions(session: Any, flt: CaseFilter, files: _Files, workdays: WorkingDays) -> None:
    def flush(case_id: int, tasks: list[tuple[int, datetime, datetime | None]], closed: datetime | None) -> None:
        for visit, (stage, came_from, entered, left) in enumerate(stage_visits(tasks, closed), start=1):
            files.row(package.STAGE_TRANSITIONS, [
                case_id, visit, stage, STAGES.get(stage, ""), "" if came_from is None else came_from,
                _when(entered), _when(left), _days(entered, left), workdays.between(entered, left)])

    case_id: int | None = None
    tasks: list[tuple[int, datetime, datetime | None]] = []
    closed: datetime | None = None
    for rows in reads.stage_tasks(session, flt):
        for row in rows:
            if row.case_id != case_id:
                if case_id is not None:
                    flush(case_id, tasks, closed)
                case_id, tasks, closed = row.case_id, [], row.case_closed_at
            tasks.append((row.stage, row.created_at, row.closed_at))
        files.read(len(rows))
    if case_id is not None:
        flush(case_id, tasks, closed)


def _write_tasks(session: Any, flt: CaseFilter, files: _Files, people: Pseudonyms, workdays: WorkingDays) -> None:
    for rows in reads.tasks(session, flt):
        for row in rows:
            waited_until = row.taken_at or row.closed_at
            files.row(package.TASKS, [
                row.id, row.case_id, row.task_key, row.name, row.stage if row.stage is not None else "",
                row.candidate_group or "", row.state, _when(row.created_at), _when(row.taken_at),
                _when(row.closed_at), _when(row.due_at), _days(row.created_at, waited_until),
                workdays.between(row.created_at, waited_until), _days(row.created_at, row.closed_at),
                people.of(row.assignee), people.of(row.closed_by)])
        files.read(len(rows))


def _write_decisions(session: Any, flt: CaseFilter, files: _Files, texts: _Texts, people: Pseudonyms) -> None:
    for row, marked in _with_secrets(session, reads.gate_decisions(session, flt), files):
        reason = ""
        if row.reason and "reason" in texts.shareable(row.process_version_id, row.form_key) and not marked.hides_reason:
            reason = texts.clean(row.reason)
        files.row(package.GATE_DECISIONS, [
            row.id, row.case_id, row.gate, row.gate_name, row.stage if row.stage is not None else "", row.round,
            row.outcome, OUTCOMES.get(row.outcome, ""), reason, len(row.conditions or []),
            row.resume_date or "", people.of(row.decider), _when(row.at)])


def _goals(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    return sorted({v for v in value if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 17})


def _write_records(session: Any, flt: CaseFilter, files: _Files, texts: _Texts, people: Pseudonyms) -> None:
    """Stage texts, lessons and goals, from one pass over the stage records in case order."""
    case_id: int | None = None
    goals: list[int] = []

    def flush_goals() -> None:
        for goal in goals:
            files.row(package.GOALS, [case_id, goal, GOAL_NAMES.get(goal, "")])

    for row, marked in _with_secrets(session, reads.stage_records(session, flt), files):
        if row.case_id != case_id:
            if case_id is not None:
                flush_goals()
            case_id, goals = row.case_id, []
        data = redact(row.data or {}, marked)
        if GOAL_FIELD in data:
            goals = _goals(data[GOAL_FIELD])  # the latest record of the goals wins
        shareable = texts.shareable(row.process_version_id, row.form_key)
        author = people.of(row.actor)
        stage = row.stage if row.stage is not None else ""
        for name, text in lessons_of(data, shareable):
            clean = texts.clean(text)
            if clean:
                files.row(package.LESSONS, [f"R{row.id}-{name}", row.case_id, stage, row.form_key or row.task_key,
                                            name, _when(row.at), author, clean])
        for name, text in shared_texts(data, shareable):
            if name in LESSON_FIELDS:
                continue
            clean = texts.clean(text)
            if clean:
                files.row(package.STAGE_TEXTS, [f"R{row.id}-{name}", row.case_id, stage,
                                                row.form_key or row.task_key, row.round, name, _when(row.at),
                                                author, clean])
    if case_id is not None:
        flush_goals()


def export_research(ctx: AppContext, out_dir: Path, flt: CaseFilter, actor: Actor, *, channel: str = "cli",
                    progress: Callable[[int], None] | None = None) -> ResearchExportView:
    """Write the package into `out_dir` (empty or new) and record the export; on any failure nothing is left."""
    require_exporter(actor)
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InvalidInput(f"the folder {out_dir} is not empty", {"out": ["choose an empty or new folder"]})
    created_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = _Files(out_dir, progress)
    try:
        with ctx.uow.read() as tx:
            session = tx.session
            people = Pseudonyms(reads.people(session))
            texts = _Texts(reads.version_forms(session), people)
            workdays = WorkingDays()
            for table in package.FILES:
                files.open(table)
            _write_cases(session, flt, files, texts, people, workdays)
            _write_transitions(session, flt, files, workdays)
            _write_decisions(session, flt, files, texts, people)
            _write_tasks(session, flt, files, people, workdays)
            _write_records(session, flt, files, texts, people)
        files.close()
        at = now()
        values = filter_values(flt)
        (out_dir / "datapackage.json").write_text(
            json.dumps(package.descriptor(_when(at), filter_text(flt), values), ensure_ascii=False, indent=2),
            encoding="utf-8")
        with ctx.uow.write() as tx:
            row = ResearchExport(username=actor.username, at=at, channel=channel, filter=values,
                                 row_counts=dict(files.counts))
            tx.session.add(row)
            tx.flush()
            export_id = row.id
            tx.commit()
    except BaseException:
        files.close()
        if created_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        else:
            for child in out_dir.iterdir():
                child.unlink(missing_ok=True)
        raise
    return ResearchExportView(export_id, out_dir, dict(files.counts), values)


def expected_rows(ctx: AppContext, flt: CaseFilter, actor: Actor) -> int:
    """How many source rows an export with `flt` reads: the length of the console's progress bar."""
    require_exporter(actor)
    with ctx.uow.read() as tx:
        return reads.source_row_counts(tx.session, flt)


def process_choices(ctx: AppContext, actor: Actor) -> list[str]:
    """The process keys an export may be narrowed to."""
    require_exporter(actor)
    with ctx.uow.read() as tx:
        return reads.process_keys(tx.session)


def list_exports(ctx: AppContext, actor: Actor, *, everyone: bool = False) -> list[ExportLogRow]:
    """The export log: everyone's for administrators (`everyone`), otherwise the actor's own."""
    require_exporter(actor)
    if everyone and not actor.has(ADMINISTRATOR):
        raise Forbidden("only administrators see every research export")
    with ctx.uow.read() as tx:
        return reads.export_log(tx.session, None if everyone else actor.username)

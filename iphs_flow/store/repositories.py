"""Repositories: the SQL behind the use cases' writes (and the reads a write needs).

Reads that serve pages, lists, search and reports are services/queries/, SQL on purpose.
A list of cases never loads workflow state or process files: `LIST_OF_CASES` makes
touching either on a listed row raise instead of quietly running a query per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import JSON, Text, bindparam, cast, delete, event, func, insert, literal, or_, select, union_all, update
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, defaultload, defer, joinedload, make_transient_to_detached, undefer
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.functions import FunctionElement

from iphs_flow.engine.clock import now

from . import case_facts
from .tables import (
    AccessLog,
    ApiToken,
    Case,
    CaseAttachment,
    CaseComment,
    CaseCounter,
    CaseEvent,
    CaseFollower,
    DesignDraft,
    GateDecision,
    GroupMember,
    HumanTask,
    IdempotencyKey,
    Lesson,
    MessageWait,
    Notification,
    Outbox,
    ProcessVersion,
    Publication,
    SecrecyMarking,
    StageRecord,
    TaskDraft,
    UserAccount,
    UserGroup,
    UserRole,
)

# Options for every query that lists cases: the version number comes along, state and files may not.
LIST_OF_CASES = (
    defer(Case.state, raiseload=True),
    joinedload(Case.process_version).load_only(ProcessVersion.id, ProcessVersion.process_key,
                                               ProcessVersion.version, raiseload=True),
)


@dataclass(frozen=True)
class StepRead:
    """What TaskRepository.for_step read for completing a task."""

    task: HumanTask
    case: Case
    open_tasks: list[HumanTask]
    files_length: int | None
    waits: bool
    forms_length: int | None  # the version's forms are not in the row: see case_sync.version_forms


@dataclass(frozen=True)
class TakenTask:
    """What TaskRepository.take_for_completion learnt while closing the task: whether the person
    has a draft of it, and facts of its case (case_facts.py) for the rest of the transaction."""

    has_draft: bool
    case_facts: dict[str, bool]
    staffed: dict[str, bool]  # group -> whether anyone active is in it (the groups asked about)


def _insert_for(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


# The statements of a task's completion, built once (building and keying a statement costs more
# than running it on SQLite); their values are bound when they run.
def _for_step_statement() -> Any:
    case_of_task = select(HumanTask.case_id).where(HumanTask.id == bindparam("task_id")).scalar_subquery()
    files_length = (select(func.length(cast(ProcessVersion.files, Text)))
                    .where(ProcessVersion.id == Case.process_version_id).scalar_subquery())
    forms_length = (select(func.length(cast(ProcessVersion.forms, Text)))
                    .where(ProcessVersion.id == Case.process_version_id).scalar_subquery())
    waits = select(MessageWait.id).where(MessageWait.case_id == Case.id).exists()
    return (select(HumanTask, Case, files_length, waits, forms_length).join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.case_id == case_of_task,
                   or_(HumanTask.state == "open", HumanTask.id == bindparam("task_id")))
            .options(undefer(Case.state), defaultload(Case.process_version).defer(ProcessVersion.forms))
            .order_by(HumanTask.id))


_FOR_STEP = _for_step_statement()
_LATEST_FOR_START = (select(ProcessVersion, func.length(cast(ProcessVersion.files, Text)))
                     .where(ProcessVersion.process_key == bindparam("key"))
                     .options(defer(ProcessVersion.forms)).order_by(ProcessVersion.version.desc()).limit(1))


def _staffed(group: str) -> Any:
    """Whether anyone active is in the group named by the parameter `group` (EXISTS), without joins:
    SQLite writes the columns of a RETURNING clause without their tables' names."""
    return (select(GroupMember.user_id)
            .where(GroupMember.group_id.in_(select(UserGroup.id).where(UserGroup.name == bindparam(group))),
                   GroupMember.user_id.in_(select(UserAccount.id).where(UserAccount.is_active.is_(True))))
            .exists())


# Whether anyone active is in a new task's group (UserRepository.has_active_member).
_HAS_ACTIVE_MEMBER = select(_staffed("group"))


@cache
def _take_statement(close: bool, with_draft: bool, with_group: bool = False) -> Any:
    values: dict[str, Any] = ({"state": "completed", "closed_at": bindparam("at"),
                               "closed_by": bindparam("by")} if close else {"state": HumanTask.state})
    case_id = bindparam("of_case")
    followed = select(CaseFollower.id).where(CaseFollower.case_id == case_id).exists()
    published = select(Publication.id).where(Publication.case_id == case_id).exists()
    secret_marked = select(SecrecyMarking.case_id).where(SecrecyMarking.case_id == case_id).exists()
    has_lessons = select(Lesson.id).where(Lesson.case_id == case_id).exists()
    draft = (select(TaskDraft.id).where(TaskDraft.task_id == bindparam("task_id"),
                                        TaskDraft.username == bindparam("draft_of")).exists()
             if with_draft else literal(False))
    staffing = (_staffed("group"), _staffed("fallback_group")) if with_group else (literal(False), literal(False))
    return (update(HumanTask)
            .where(HumanTask.id == bindparam("task_id"), HumanTask.state == "open",
                   HumanTask.assignee.is_not_distinct_from(bindparam("seen_assignee", type_=HumanTask.assignee.type)),
                   HumanTask.candidate_group.is_not_distinct_from(
                       bindparam("seen_group", type_=HumanTask.candidate_group.type)))
            .values(**values).returning(followed, published, secret_marked, has_lessons, draft, *staffing)
            .execution_options(synchronize_session=False))


class json_list(FunctionElement[Any]):
    """The values of a column as one JSON array (an aggregate): json_group_array / json_agg."""

    type = JSON()
    inherit_cache = True


@compiles(json_list, "sqlite")
def _json_list_sqlite(element: json_list, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(json_list, "postgresql")
def _json_list_postgresql(element: json_list, compiler: Any, **kw: Any) -> str:
    return f"json_agg({compiler.process(element.clauses, **kw)})"


_TOKEN_WITH_ACCESS = (
    select(ApiToken,
           select(json_list(UserRole.role)).where(UserRole.user_id == ApiToken.user_id).scalar_subquery(),
           select(json_list(UserGroup.name)).join(GroupMember, GroupMember.group_id == UserGroup.id)
           .where(GroupMember.user_id == ApiToken.user_id).scalar_subquery())
    .where(ApiToken.prefix == bindparam("prefix")).options(joinedload(ApiToken.user)))


# A completion's writes as Core statements: the ORM's unit of work (change tracking, dependency
# sort, per-object bookkeeping) cost more than the few rows of a step it wrote.
_CASES, _TASKS, _EVENTS = Case.__table__, HumanTask.__table__, CaseEvent.__table__
_STAGE_RECORDS = StageRecord.__table__
_CASE_COLUMNS = frozenset(c.key for c in _CASES.columns) - {"id", "version"}


@lru_cache(maxsize=64)
def _save_statement(columns: frozenset[str]) -> Any:
    """UPDATE these columns of a case row and its version, if it still has the version read."""
    return (update(_CASES).where(_CASES.c.id == bindparam("case_id"), _CASES.c.version == bindparam("seen"))
            .values(version=bindparam("new_version"), **{key: bindparam(f"new_{key}") for key in sorted(columns)}))


_INSERT_TASK = insert(_TASKS).returning(_TASKS.c.id)


def _next_round(case_param: str, task_param: str) -> Any:
    """The round of a task's next stage record in a case, counted inside the INSERT (max + 1)."""
    return (select(func.coalesce(func.max(_STAGE_RECORDS.c.round), 0) + 1)
            .where(_STAGE_RECORDS.c.case_id == bindparam(case_param),
                   _STAGE_RECORDS.c.task_key == bindparam(task_param)).scalar_subquery())


def _stage_record_with_event() -> Any:
    """INSERT a history row and, in the same statement, the stage record that refers to it (PostgreSQL:
    a data-modifying CTE); parameters event_<column> and record_<column>; returns the history row's id."""
    def typed(prefix: str, column: Any) -> Any:
        return bindparam(f"{prefix}_{column.key}", type_=column.type)

    event_columns = [c for c in _EVENTS.columns if c.key != "id"]
    written = (insert(_EVENTS).values({c: typed("event", c) for c in event_columns})
               .returning(_EVENTS.c.id).cte("written_event"))
    record_columns = [c for c in _STAGE_RECORDS.columns if c.key not in ("id", "round", "event_id")]
    round_ = _next_round("record_case_id", "record_task_key")
    rows = select(*[typed("record", c) for c in record_columns], written.c.id, round_).select_from(written)
    return (insert(_STAGE_RECORDS).from_select([*(c.key for c in record_columns), "event_id", "round"], rows)
            .add_cte(written).returning(_STAGE_RECORDS.c.event_id))


_STAGE_RECORD_WITH_EVENT = _stage_record_with_event()
_APPEND_STAGE_RECORD = insert(_STAGE_RECORDS).values(round=_next_round("round_case", "round_task"))
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_INSERT_EVENTS = insert(_EVENTS)  # many rows: one INSERT of them all (insertmanyvalues)


def _attached(session: Session, row: Any) -> Any:
    """`row`, written by a Core INSERT (its id set), made a persistent object of `session`: later
    changes to it are flushed as UPDATEs, and a relationship to it does not INSERT it again."""
    make_transient_to_detached(row)
    session.add(row)
    return row


PENDING_EVENTS = "iphs_pending_events"


def write_pending_events(session: Session) -> None:
    """Write the history rows added with `add_later`, after every row added before them (flushed first)."""
    rows = session.info.pop(PENDING_EVENTS, None)
    if rows:
        session.flush()
        session.connection().execute(_INSERT_EVENTS, rows)


@event.listens_for(Session, "before_commit")
def _pending_events_before_commit(session: Session) -> None:
    write_pending_events(session)


@cache
def _add_once_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (idempotency_key) DO NOTHING, built once per dialect (every step queues work)."""
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert_for(Outbox.__table__).on_conflict_do_nothing(index_elements=[Outbox.__table__.c.idempotency_key])


class ProcessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, version: ProcessVersion) -> ProcessVersion:
        self.session.add(version)
        self.session.flush()
        return version

    def get(self, version_id: int) -> ProcessVersion | None:
        return self.session.get(ProcessVersion, version_id)

    def forms_of(self, version_id: int) -> dict[str, Any]:
        return self.session.scalar(select(ProcessVersion.forms).where(ProcessVersion.id == version_id)) or {}

    def latest_for_start(self, key: str) -> tuple[ProcessVersion, int] | None:
        """The newest version of `key` and the stored length of its files, without its forms or files
        (a start needs neither: case_sync.engine_ref keeps the files per version)."""
        found = self.session.execute(_LATEST_FOR_START, {"key": key}).first()
        return None if found is None else (found[0], found[1])

    def latest(self, key: str) -> ProcessVersion | None:
        return self.session.scalars(
            select(ProcessVersion).where(ProcessVersion.process_key == key)
            .order_by(ProcessVersion.version.desc()).limit(1)
        ).first()

    def latest_versions(self) -> Sequence[ProcessVersion]:
        newest = (select(ProcessVersion.process_key, func.max(ProcessVersion.version).label("v"))
                  .group_by(ProcessVersion.process_key).subquery())
        return self.session.scalars(
            select(ProcessVersion).join(newest, (ProcessVersion.process_key == newest.c.process_key)
                                        & (ProcessVersion.version == newest.c.v))
            .order_by(ProcessVersion.process_key)
        ).all()

    def versions(self, key: str) -> Sequence[ProcessVersion]:
        return self.session.scalars(
            select(ProcessVersion).where(ProcessVersion.process_key == key)
            .order_by(ProcessVersion.version)
        ).all()


class CaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case: Case) -> Case:
        self.session.add(case)
        self.session.flush()
        return case

    def save(self, case: Case) -> None:
        """Write what changed on `case` (persistent or detached) with one UPDATE, if the row still has
        the version it was read with (a compare-and-set, as the ORM's version counter does): else
        StaleDataError, which the caller takes as "someone saved the case first". The ORM then
        sees nothing left to write. Only the columns that changed are written, as the ORM would,
        by a statement built once per set of them (a step changes the same few)."""
        state = orm_inspect(case)
        given, before = state.dict, state.committed_state
        changed = {key: given[key] for key in before
                   if key in _CASE_COLUMNS and key in given and given[key] != before[key]}
        if not changed:
            return
        seen = case.version
        values = {f"new_{key}": value for key, value in changed.items()}
        written = self.session.connection().execute(  # no autoflush: the ORM must not write it first
            _save_statement(frozenset(changed)), {**values, "case_id": case.id, "seen": seen, "new_version": seen + 1})
        if written.rowcount != 1:
            raise StaleDataError(f"case {case.id} was saved by someone else since version {seen} was read")
        for key, value in changed.items():
            set_committed_value(case, key, value)
        set_committed_value(case, "version", seen + 1)

    def get(self, case_id: int) -> Case | None:
        return self.session.get(Case, case_id)

    def by_number(self, number: str) -> Case | None:
        return self.session.scalars(select(Case).where(Case.number == number)).first()

    def next_number(self, prefix: str, year: int) -> int:
        """Hand out the next number for (prefix, year) atomically, on both databases."""
        insert = _insert_for(self.session)
        stmt = insert(CaseCounter).values(prefix=prefix, year=year, last=1)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CaseCounter.prefix, CaseCounter.year],
            set_={"last": CaseCounter.last + 1},
        ).returning(CaseCounter.last)
        return int(self.session.execute(stmt).scalar_one())

    def due_for_timers(self, at: datetime, limit: int) -> list[int]:
        return list(self.session.scalars(
            select(Case.id).where(Case.next_timer_at <= at, Case.status == "running")
            .order_by(Case.next_timer_at).limit(limit)
        ))

    def lock_next_due(self, at: datetime, exclude: Sequence[int] = ()) -> Case | None:
        """The running case whose timer is most overdue, locked for this transaction.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` hands each scheduler a different case; on
        SQLite the clause is not rendered and BEGIN IMMEDIATE serialises the schedulers.
        """
        case_id = self.session.scalar(
            select(Case.id).where(Case.next_timer_at <= at, Case.status == "running",
                                  Case.id.not_in(list(exclude)))
            .order_by(Case.next_timer_at, Case.id).limit(1).with_for_update(skip_locked=True))
        return None if case_id is None else self.session.get(Case, case_id)

    def earliest_timer(self) -> datetime | None:
        return self.session.scalar(select(func.min(Case.next_timer_at)).where(Case.status == "running"))

    def open_on_process(self, key: str, limit: int = 500) -> Sequence[Case]:
        """Open (running, suspended, incident) cases of a process, oldest version first: migration candidates."""
        return self.session.scalars(
            select(Case).options(*LIST_OF_CASES).join(ProcessVersion, Case.process_version_id == ProcessVersion.id)
            .where(Case.process_key == key, Case.status.in_(("running", "suspended", "incident")))
            .order_by(ProcessVersion.version, Case.id).limit(limit)).all()

    def running_per_version(self, key: str) -> dict[int, int]:
        rows = self.session.execute(
            select(Case.process_version_id, func.count()).where(
                Case.process_key == key, Case.status.in_(("running", "suspended", "incident")))
            .group_by(Case.process_version_id)).all()
        return {int(r[0]): int(r[1]) for r in rows}

    def counts(self) -> list[tuple[str, int | None, int]]:
        rows = self.session.execute(
            select(Case.status, Case.stage, func.count()).group_by(Case.status, Case.stage)
            .order_by(Case.status, Case.stage)).all()
        return [(r[0], r[1], int(r[2])) for r in rows]

    def page(self, *, owner: str | None = None, status: str | None = None, stage: int | None = None,
             process_key: str | None = None, text: str | None = None, updated_since: datetime | None = None,
             before_id: int | None = None, limit: int = 50) -> Sequence[Case]:
        """Newest cases first, filtered, from `before_id` on (keyset pagination: stable under inserts)."""
        query = select(Case).options(*LIST_OF_CASES).order_by(Case.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(Case.owner == owner)
        if status is not None:
            query = query.where(Case.status == status)
        if stage is not None:
            query = query.where(Case.stage == stage)
        if process_key is not None:
            query = query.where(Case.process_key == process_key)
        if updated_since is not None:
            query = query.where(Case.updated_at >= updated_since)
        if text:
            like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(func.lower(Case.title).like(like, escape="\\"),
                                    func.lower(Case.number).like(like, escape="\\")))
        if before_id is not None:
            query = query.where(Case.id < before_id)
        return self.session.scalars(query).all()


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: int) -> HumanTask | None:
        return self.session.get(HumanTask, task_id)

    def with_case(self, task_id: int) -> tuple[HumanTask, Case] | None:
        """A task and its case (with its process version) in one query."""
        found = self.session.execute(select(HumanTask, Case).join(Case, Case.id == HumanTask.case_id)
                                     .where(HumanTask.id == task_id)).first()
        return None if found is None else (found[0], found[1])

    def for_step(self, task_id: int) -> StepRead | None:
        """In one query, what completing `task_id` needs: the task (whatever its state), its case with
        the workflow state, the case's open tasks, the stored length of its version's files and
        forms (it tells a cached copy of them from a version edited in place) and whether the case
        waits for a message. The forms themselves (the innovation process's are 70 KB of JSON) are
        not read: case_sync.version_forms keeps them per version."""
        rows = self.session.execute(_FOR_STEP, {"task_id": task_id}).all()
        task = next((r[0] for r in rows if r[0].id == task_id), None)
        if task is None:
            return None
        return StepRead(task, rows[0][1], [r[0] for r in rows if r[0].state == "open"], rows[0][2], bool(rows[0][3]),
                        rows[0][4])

    def take_for_completion(self, task: HumanTask, by: str, at: datetime, close: bool,
                            draft_of: str | None = None, staffing: tuple[str, str] | None = None) -> TakenTask | None:
        """Close `task` as completed by `by`, if it is still open and held as it was read (the same
        assignee and group: a claim in between must not let someone else's completion through);
        None when it is not. With `close` False (the step did not run) it is only checked.

        The same statement tells what the rest of the write needs to know about the case, as of
        now, inside this transaction: whether anyone follows it, whether it has a public page,
        secret-marked fields or lessons (case_facts.py), and whether `draft_of` has a saved draft.
        With `staffing` (a group a task the step opens goes to, and the group it goes to when
        that one has nobody), also whether anyone active is in each (task_notices.py asks).
        """
        group, fallback = staffing or (None, None)
        found = self.session.execute(_take_statement(close, draft_of is not None, staffing is not None), {
            "task_id": task.id, "of_case": task.case_id, "seen_assignee": task.assignee,
            "seen_group": task.candidate_group, "at": at, "by": by, "draft_of": draft_of,
            "group": group, "fallback_group": fallback}).first()
        if found is None:
            return None
        if close:
            set_committed_value(task, "state", "completed")
            set_committed_value(task, "closed_at", at)
            set_committed_value(task, "closed_by", by)
        return TakenTask(bool(found[4]), {case_facts.FOLLOWED: bool(found[0]), case_facts.PUBLISHED: bool(found[1]),
                                          case_facts.SECRET_MARKED: bool(found[2]),
                                          case_facts.HAS_LESSONS: bool(found[3])},
                         {} if staffing is None else {fallback: bool(found[6]), group: bool(found[5])})

    def open_for_case(self, case_id: int) -> Sequence[HumanTask]:
        return self.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "open")
            .order_by(HumanTask.id)
        ).all()

    def open_for_cases(self, case_ids: Sequence[int]) -> Sequence[HumanTask]:
        """The open tasks of several cases in one query (a page of a case list)."""
        if not case_ids:
            return []
        return self.session.scalars(
            select(HumanTask).where(HumanTask.case_id.in_(list(case_ids)), HumanTask.state == "open")
            .order_by(HumanTask.id)
        ).all()

    def for_spiff_ids(self, case_id: int, spiff_ids: list[str]) -> dict[str, HumanTask]:
        if not spiff_ids:
            return {}
        rows = self.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.spiff_task_id.in_(spiff_ids))
        ).all()
        return {row.spiff_task_id: row for row in rows}

    def add(self, task: HumanTask) -> HumanTask:
        self.session.add(task)
        return task

    def insert_open(self, tasks: Sequence[HumanTask]) -> None:
        """Write new tasks now (their ids name their notices and links), each with one INSERT ...
        RETURNING, without the ORM's flush; they stay objects of this session."""
        columns = [c.key for c in _TASKS.columns if c.key != "id"]
        for task in tasks:
            given = task.__dict__
            values = {key: given.get(key) for key in columns}
            task.id = self.session.connection().execute(_INSERT_TASK, values).scalar_one()
            for key in columns:
                if key not in given:  # as written (NULL), not "not loaded"
                    set_committed_value(task, key, None)
            _attached(self.session, task)

    def latest_for_key(self, case_id: int, task_key: str) -> HumanTask | None:
        """The open task with this BPMN id in a case, else the most recent one."""
        return self.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.task_key == task_key)
            .order_by((HumanTask.state == "open").desc(), HumanTask.id.desc()).limit(1)).first()

    def participants(self, case_id: int) -> tuple[set[str], set[str]]:
        """People and groups who have or had a task in the case (they may see it).

        The managers of those people, and of the members of those groups, are people of the
        case too: an escalation sends them its link, and it must not answer 404.
        """
        rows = self.session.execute(
            select(HumanTask.assignee, HumanTask.closed_by, HumanTask.candidate_group)
            .where(HumanTask.case_id == case_id)).all()
        people = {p for row in rows for p in (row[0], row[1]) if p}
        groups = {row[2] for row in rows if row[2]}
        members = (select(GroupMember.user_id).join(UserGroup, UserGroup.id == GroupMember.group_id)
                   .where(UserGroup.name.in_(groups)))
        managers = self.session.scalars(
            select(UserAccount.manager_username).distinct()
            .where(UserAccount.manager_username.is_not(None),
                   or_(UserAccount.username.in_(people), UserAccount.id.in_(members))))
        return people | set(managers), groups

    def swap_assignee(self, task_id: int, expected: str | None, new: str | None) -> bool:
        """Compare-and-set the assignee of an open task; False when someone else changed it first."""
        current = HumanTask.assignee.is_(None) if expected is None else HumanTask.assignee == expected
        result = self.session.execute(
            update(HumanTask).where(HumanTask.id == task_id, HumanTask.state == "open", current)
            .values(assignee=new).execution_options(synchronize_session=False))
        return bool(result.rowcount)

    def close(self, case_id: int, spiff_ids: list[str], state: str, by: str | None) -> None:
        if not spiff_ids:
            return
        self.session.execute(
            update(HumanTask)
            .where(HumanTask.case_id == case_id, HumanTask.spiff_task_id.in_(spiff_ids),
                   HumanTask.state == "open")
            .values(state=state, closed_at=now(), closed_by=by)
        )


class DraftRepository:
    """A person's unsaved form data per task (one draft per task and person)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: int, username: str) -> TaskDraft | None:
        return self.session.scalars(select(TaskDraft).where(TaskDraft.task_id == task_id,
                                                            TaskDraft.username == username)).first()

    def add(self, draft: TaskDraft) -> TaskDraft:
        self.session.add(draft)
        return draft

    def delete(self, task_id: int, username: str) -> None:
        self.session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == username))


class CommentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, comment: CaseComment) -> CaseComment:
        self.session.add(comment)
        self.session.flush()
        return comment

    def for_case(self, case_id: int) -> Sequence[CaseComment]:
        return self.session.scalars(select(CaseComment).where(CaseComment.case_id == case_id)
                                    .order_by(CaseComment.id)).all()


class AttachmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, attachment: CaseAttachment) -> CaseAttachment:
        self.session.add(attachment)
        return attachment

    def get(self, attachment_id: int) -> CaseAttachment | None:
        return self.session.get(CaseAttachment, attachment_id)

    def for_case(self, case_id: int) -> Sequence[CaseAttachment]:
        return self.session.scalars(select(CaseAttachment).where(CaseAttachment.case_id == case_id)
                                    .order_by(CaseAttachment.id)).all()


class EventRepository:
    """The history. `add` gives the row (its id once flushed); `add_later` is for the many rows of a
    step that nobody needs the id of: they are kept back and written together, in the order they
    were added among the transaction's history rows, in one INSERT (write_pending_events) - at the
    next `add`, `Transaction.flush` or the commit. Those added after a flush (a completion's
    notices, once the new tasks have their ids) so join those added before it, instead of a
    second INSERT; and the ORM need not track, flush and give ids to rows nobody reads back."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case_id: int, actor: str, kind: str, *, task_key: str | None = None,
            task_name: str | None = None, data: dict[str, Any] | None = None,
            at: datetime | None = None) -> CaseEvent:
        if self.session.info.get(PENDING_EVENTS):
            write_pending_events(self.session)  # the rows added before this one come before it
        row = CaseEvent(case_id=case_id, actor=actor, kind=kind, task_key=task_key,
                        task_name=task_name, data=data or {}, at=at or now())
        self.session.add(row)
        return row

    def add_now(self, case_id: int, actor: str, kind: str, *, task_key: str | None = None,
                task_name: str | None = None, data: dict[str, Any] | None = None,
                at: datetime | None = None) -> CaseEvent:
        """`add`, written at once with one INSERT ... RETURNING (its id is known, without a flush)."""
        if self.session.info.get(PENDING_EVENTS):
            write_pending_events(self.session)  # the rows added before this one come before it
        values = {"case_id": case_id, "actor": actor, "kind": kind, "task_key": task_key, "task_name": task_name,
                  "data": data or {}, "at": at or now()}
        row = CaseEvent(id=self.session.connection().execute(_INSERT_EVENT, values).scalar_one(), **values)
        return _attached(self.session, row)

    def add_later(self, case_id: int, actor: str, kind: str, *, task_key: str | None = None,
                  task_name: str | None = None, data: dict[str, Any] | None = None,
                  at: datetime | None = None) -> None:
        self.session.info.setdefault(PENDING_EVENTS, []).append({
            "case_id": case_id, "actor": actor, "kind": kind, "task_key": task_key, "task_name": task_name,
            "data": data or {}, "at": at or now()})

    def for_case(self, case_id: int, limit: int = 1000) -> Sequence[CaseEvent]:
        return self.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id).limit(limit)
        ).all()

    def count_for_case(self, case_id: int) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)) or 0)


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_once(self, idempotency_key: str, kind: str, payload: dict[str, Any],
                 case_id: int | None = None, due_at: datetime | None = None) -> bool:
        """Queue work unless the same key was queued before; True if it was new."""
        at = now()
        result = self.session.execute(_add_once_statement(self.session.get_bind().dialect.name), {
            "idempotency_key": idempotency_key, "kind": kind, "payload": payload, "case_id": case_id,
            "status": "pending", "due_at": due_at or at, "attempts": 0, "created_at": at})
        return bool(result.rowcount)

    def for_case(self, case_id: int) -> Sequence[Outbox]:
        return self.session.scalars(select(Outbox).where(Outbox.case_id == case_id).order_by(Outbox.id)).all()

    def add_for(self, idempotency_key: str, kind: str, payload: dict[str, Any], *, recipient: str | None,
                status: str, due_at: datetime, case_id: int | None = None) -> bool:
        """Queue work for one person unless the key was queued before; True if it was new."""
        insert = _insert_for(self.session)
        stmt = insert(Outbox).values(
            idempotency_key=idempotency_key, kind=kind, payload=payload, case_id=case_id, status=status,
            due_at=due_at, attempts=0, created_at=now(), recipient=recipient,
        ).on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
        return bool(self.session.execute(stmt).rowcount)

    def get(self, job_id: int) -> Outbox | None:
        return self.session.get(Outbox, job_id)

    def by_key(self, idempotency_key: str) -> Outbox | None:
        return self.session.scalars(select(Outbox).where(Outbox.idempotency_key == idempotency_key)).first()

    def claim_due(self, at: datetime, owner: str, lease_until: datetime, limit: int) -> list[Outbox]:
        """Lease up to `limit` due jobs to `owner`: rows other schedulers hold are skipped.

        A lease that ran out (its scheduler crashed) makes the job claimable again; every
        claim counts as an attempt, so a job that kills its scheduler ends as an incident.
        """
        rows = list(self.session.scalars(
            select(Outbox).where(Outbox.status == "pending", Outbox.due_at <= at,
                                 or_(Outbox.locked_until.is_(None), Outbox.locked_until < at))
            .order_by(Outbox.due_at, Outbox.id).limit(limit).with_for_update(skip_locked=True)))
        for row in rows:
            row.locked_by, row.locked_until, row.attempts = owner, lease_until, row.attempts + 1
        self.session.flush()
        return rows

    def finish(self, job_id: int, owner: str, **values: Any) -> bool:
        """Settle a leased job; False when the lease was lost (another scheduler took over)."""
        result = self.session.execute(
            update(Outbox).where(Outbox.id == job_id, Outbox.locked_by == owner, Outbox.status == "pending")
            .values(locked_by=None, locked_until=None, **values).execution_options(synchronize_session=False))
        return bool(result.rowcount)

    def renew(self, job_ids: Sequence[int], owner: str, lease_until: datetime) -> set[int]:
        """Extend `owner`'s leases on these jobs; returns the ids it still holds."""
        if not job_ids:
            return set()
        rows = self.session.execute(
            update(Outbox).where(Outbox.id.in_(list(job_ids)), Outbox.locked_by == owner,
                                 Outbox.status == "pending")
            .values(locked_until=lease_until).returning(Outbox.id)
            .execution_options(synchronize_session=False)).all()
        return {int(r[0]) for r in rows}

    def next_due(self, at: datetime) -> datetime | None:
        """When pending work next becomes claimable: its due time, or when its lease runs out."""
        free = self.session.scalar(select(func.min(Outbox.due_at)).where(
            Outbox.status == "pending", or_(Outbox.locked_until.is_(None), Outbox.locked_until < at)))
        leased = self.session.scalar(select(func.min(Outbox.locked_until)).where(
            Outbox.status == "pending", Outbox.locked_until >= at))
        times = [t for t in (free, leased) if t is not None]
        return min(times) if times else None

    def digest_items(self, recipient: str, until: datetime) -> list[Outbox]:
        return list(self.session.scalars(
            select(Outbox).where(Outbox.recipient == recipient, Outbox.kind == "mail",
                                 Outbox.status == "digest", Outbox.due_at <= until)
            .order_by(Outbox.created_at, Outbox.id).with_for_update()))

    def listing(self, *, statuses: Sequence[str] | None = None, kinds: Sequence[str] | None = None,
                limit: int = 200) -> Sequence[Outbox]:
        query = select(Outbox).order_by(Outbox.id.desc()).limit(limit)
        if statuses:
            query = query.where(Outbox.status.in_(list(statuses)))
        if kinds:
            query = query.where(Outbox.kind.in_(list(kinds)))
        return self.session.scalars(query).all()

    def count_by_status(self, kind: str) -> dict[str, int]:
        rows = self.session.execute(select(Outbox.status, func.count()).where(Outbox.kind == kind)
                                    .group_by(Outbox.status)).all()
        return {r[0]: int(r[1]) for r in rows}


class NotificationRepository:
    """In-app messages: one row per person and event."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_once(self, notification: Notification) -> bool:
        """Insert unless a notification with the same key exists; True if it was new."""
        insert = _insert_for(self.session)
        values = {c.key: getattr(notification, c.key) for c in Notification.__table__.columns if c.key != "id"}
        result = self.session.execute(insert(Notification).values(**values)
                                      .on_conflict_do_nothing(index_elements=[Notification.key]))
        return bool(result.rowcount)

    def for_user(self, username: str, *, unread_only: bool = False, limit: int = 100) -> Sequence[Notification]:
        query = (select(Notification).where(Notification.username == username)
                 .order_by(Notification.id.desc()).limit(limit))
        if unread_only:
            query = query.where(Notification.read_at.is_(None))
        return self.session.scalars(query).all()

    def unread_count(self, username: str) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.username == username, Notification.read_at.is_(None))) or 0)

    def mark_read(self, username: str, ids: Sequence[int] | None, at: datetime) -> int:
        query = update(Notification).where(Notification.username == username, Notification.read_at.is_(None))
        if ids is not None:
            query = query.where(Notification.id.in_(list(ids)))
        return int(self.session.execute(query.values(read_at=at)
                                        .execution_options(synchronize_session=False)).rowcount)


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_username(self, username: str) -> UserAccount | None:
        return self.session.scalars(select(UserAccount).where(UserAccount.username == username)).first()

    def add(self, user: UserAccount) -> UserAccount:
        self.session.add(user)
        self.session.flush()
        return user

    def roles(self, user_id: int) -> set[str]:
        return set(self.session.scalars(select(UserRole.role).where(UserRole.user_id == user_id)))

    def groups(self, user_id: int) -> set[str]:
        return set(self.session.scalars(
            select(UserGroup.name).join(GroupMember, GroupMember.group_id == UserGroup.id)
            .where(GroupMember.user_id == user_id)))

    def access(self, user_id: int) -> tuple[set[str], set[str]]:
        """A person's roles and groups in one query (every request asks for both)."""
        roles = select(literal("role").label("kind"), UserRole.role.label("name")).where(UserRole.user_id == user_id)
        groups = (select(literal("group").label("kind"), UserGroup.name.label("name"))
                  .join(GroupMember, GroupMember.group_id == UserGroup.id).where(GroupMember.user_id == user_id))
        found: dict[str, set[str]] = {"role": set(), "group": set()}
        for kind, name in self.session.execute(union_all(roles, groups)):
            found[kind].add(name)
        return found["role"], found["group"]

    def set_roles(self, user_id: int, roles: set[str]) -> None:
        self.session.execute(delete(UserRole).where(UserRole.user_id == user_id))
        for role in sorted(roles):
            self.session.add(UserRole(user_id=user_id, role=role))

    def group(self, name: str) -> UserGroup:
        group = self.session.scalars(select(UserGroup).where(UserGroup.name == name)).first()
        if group is None:
            group = UserGroup(name=name, title=name)
            self.session.add(group)
            self.session.flush()
        return group

    def set_groups(self, user_id: int, groups: set[str]) -> None:
        self.session.execute(delete(GroupMember).where(GroupMember.user_id == user_id))
        for name in sorted(groups):
            self.session.add(GroupMember(user_id=user_id, group_id=self.group(name).id))

    def members(self, group: str) -> Sequence[UserAccount]:
        return self.session.scalars(
            select(UserAccount).join(GroupMember, GroupMember.user_id == UserAccount.id)
            .join(UserGroup, UserGroup.id == GroupMember.group_id)
            .where(UserGroup.name == group, UserAccount.is_active.is_(True)).order_by(UserAccount.username)
        ).all()

    def has_active_member(self, group: str) -> bool:
        """Whether anyone active is in `group` (a new task's people), without loading them (nor asking
        again when the transaction found out already: case_facts.staffed)."""
        known = case_facts.staffed(self.session, group)
        if known is not None:
            return known
        return bool(self.session.scalar(_HAS_ACTIVE_MEMBER, {"group": group}))

    def all(self) -> Sequence[UserAccount]:
        return self.session.scalars(select(UserAccount).order_by(UserAccount.username)).all()

    def active(self, *, role: str | None = None, limit: int = 2000) -> Sequence[UserAccount]:
        """Active people by user name, those with `role` only when given (for people pickers)."""
        query = select(UserAccount).where(UserAccount.is_active.is_(True))
        if role is not None:
            query = query.where(UserAccount.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
        return self.session.scalars(query.order_by(UserAccount.username).limit(limit)).all()

    def log(self, event: str, username: str | None, detail: dict[str, Any] | None = None,
            remote_addr: str | None = None) -> None:
        self.session.add(AccessLog(event=event, username=username, detail=detail or {},
                                   remote_addr=remote_addr, at=now()))

    def by_oidc_subject(self, subject: str) -> UserAccount | None:
        return self.session.scalars(select(UserAccount).where(UserAccount.oidc_subject == subject)).first()

    def access_log(self, *, username: str | None = None, event: str | None = None,
                   limit: int = 100) -> Sequence[AccessLog]:
        query = select(AccessLog).order_by(AccessLog.id.desc()).limit(limit)
        if username is not None:
            query = query.where(AccessLog.username == username)
        if event is not None:
            query = query.where(AccessLog.event == event)
        return self.session.scalars(query).all()


class DesignDraftRepository:
    """The designers' working copies, one per process, saved with a compare-and-set on `version`."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str) -> DesignDraft | None:
        return self.session.scalars(select(DesignDraft).where(DesignDraft.process_key == key)).first()

    def add(self, draft: DesignDraft) -> DesignDraft:
        self.session.add(draft)
        self.session.flush()
        return draft

    def save(self, key: str, expected_version: int, **values: Any) -> bool:
        """Write `values` and bump the version only if nobody saved since `expected_version`."""
        result = self.session.execute(
            update(DesignDraft)
            .where(DesignDraft.process_key == key, DesignDraft.version == expected_version)
            .values(version=expected_version + 1, updated_at=now(), **values)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1

    def delete(self, key: str) -> bool:
        result = self.session.execute(delete(DesignDraft).where(DesignDraft.process_key == key))
        return result.rowcount > 0

    def all(self) -> Sequence[DesignDraft]:
        return self.session.scalars(select(DesignDraft).order_by(DesignDraft.process_key)).all()


class ApiTokenRepository:
    """Personal API tokens; looked up by their public prefix, never by the secret."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, token: ApiToken) -> ApiToken:
        self.session.add(token)
        self.session.flush()
        return token

    def get(self, token_id: int) -> ApiToken | None:
        return self.session.get(ApiToken, token_id)

    def by_prefix(self, prefix: str) -> ApiToken | None:
        """The token with this prefix, its owner read in the same query."""
        return self.session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)
                                    .options(joinedload(ApiToken.user))).first()

    def by_prefix_with_access(self, prefix: str) -> tuple[ApiToken, set[str], set[str]] | None:
        """As by_prefix, with its owner's roles and groups, in one query (every API request asks)."""
        found = self.session.execute(_TOKEN_WITH_ACCESS, {"prefix": prefix}).first()
        if found is None:
            return None
        return found[0], set(found[1] or ()), set(found[2] or ())

    def note_used(self, token_id: int, at: datetime) -> None:
        """Stamp the token's last use: one UPDATE, the row is not read again."""
        self.session.execute(update(ApiToken.__table__).where(ApiToken.__table__.c.id == token_id)
                             .values(last_used_at=at))

    def for_user(self, username: str) -> Sequence[ApiToken]:
        return self.session.scalars(
            select(ApiToken).join(UserAccount, UserAccount.id == ApiToken.user_id)
            .where(UserAccount.username == username).order_by(ApiToken.id.desc())
        ).all()

    def count_usable(self, user_id: int, at: datetime) -> int:
        return int(self.session.scalar(
            select(func.count()).select_from(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None),
                   or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > at))) or 0)


class IdempotencyRepository:
    """Idempotency keys of API writes, unique per (username, key)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str, key: str) -> IdempotencyKey | None:
        return self.session.scalars(select(IdempotencyKey).where(
            IdempotencyKey.username == username, IdempotencyKey.key == key)).first()

    def claim(self, username: str, key: str, fingerprint: str, method: str, path: str, at: datetime,
              expires_at: datetime) -> IdempotencyKey:
        """Insert the key as the transaction's first write; an expired row with the same key is replaced.

        A concurrent transaction holding the same key makes this INSERT wait (PostgreSQL) or
        the whole transaction wait (SQLite's BEGIN IMMEDIATE) and then fail with an
        IntegrityError: exactly one of them runs the request.
        """
        self.session.execute(delete(IdempotencyKey).where(
            IdempotencyKey.username == username, IdempotencyKey.key == key, IdempotencyKey.expires_at <= at))
        row = IdempotencyKey(username=username, key=key, fingerprint=fingerprint, method=method, path=path,
                             created_at=at, expires_at=expires_at)
        self.session.add(row)
        self.session.flush()
        return row

    def purge_expired(self, at: datetime) -> int:
        result = self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= at))
        return int(result.rowcount or 0)


class RecordRepository:
    """Stage records and gate decisions: appended, numbered by round, never updated."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def next_stage_round(self, case_id: int, task_key: str) -> int:
        found = self.session.scalar(select(func.max(StageRecord.round)).where(
            StageRecord.case_id == case_id, StageRecord.task_key == task_key))
        return int(found or 0) + 1

    def next_stage_round_sql(self, case_id: int, task_key: str) -> Any:
        """next_stage_round as an expression the INSERT evaluates (one statement fewer)."""
        return (select(func.coalesce(func.max(StageRecord.round), 0) + 1)
                .where(StageRecord.case_id == case_id, StageRecord.task_key == task_key).scalar_subquery())

    def next_gate_round_sql(self, case_id: int, gate: str) -> Any:
        """next_gate_round as an expression the INSERT evaluates (one statement fewer)."""
        return (select(func.coalesce(func.max(GateDecision.round), 0) + 1)
                .where(GateDecision.case_id == case_id, GateDecision.gate == gate).scalar_subquery())

    def next_gate_round(self, case_id: int, gate: str) -> int:
        found = self.session.scalar(select(func.max(GateDecision.round)).where(
            GateDecision.case_id == case_id, GateDecision.gate == gate))
        return int(found or 0) + 1

    def gate_name(self, case_id: int, gate: str) -> str | None:
        """The name an earlier decision at `gate` gave it (the process decides without its task)."""
        return self.session.scalar(select(GateDecision.gate_name).where(
            GateDecision.case_id == case_id, GateDecision.gate == gate).order_by(GateDecision.id.desc()).limit(1))

    def add_stage_record_with_event(self, event_values: dict[str, Any], record: StageRecord) -> CaseEvent:
        """Write a history row (`event_values`) and the stage record `record` that refers to it; returns
        the history row. PostgreSQL writes both with one statement (the history row's INSERT is a
        CTE the record's INSERT takes its id from); elsewhere it is one INSERT after the other."""
        if self.session.get_bind().dialect.name != "postgresql":
            record.event = EventRepository(self.session).add_now(**event_values)
            self.add_stage_record(record)
            return record.event
        if self.session.info.get(PENDING_EVENTS):
            write_pending_events(self.session)  # the rows added before this one come before it
        values = {c.key: getattr(record, c.key) for c in _STAGE_RECORDS.columns
                  if c.key not in ("id", "round", "event_id")}
        event_id = self.session.connection().execute(_STAGE_RECORD_WITH_EVENT, {
            **{f"record_{key}": value for key, value in values.items()},
            **{f"event_{key}": value for key, value in event_values.items()}}).scalar_one()
        record.event_id = event_id
        return _attached(self.session, CaseEvent(id=event_id, **event_values))

    def add_stage_record(self, record: StageRecord) -> StageRecord:
        """Append a stage record, its round counted by the INSERT itself (max + 1 of the case's earlier
        records of the task). Written at once with one statement built once when its history row has
        an id already (EventRepository.add_now; nobody reads the record's own id), else at the flush."""
        event_row = record.event
        if event_row is None or event_row.id is None:
            record.round = self.next_stage_round_sql(record.case_id, record.task_key)
            self.session.add(record)
            return record
        values = {c.key: getattr(record, c.key) for c in _STAGE_RECORDS.columns if c.key not in ("id", "round")}
        self.session.connection().execute(_APPEND_STAGE_RECORD, {
            **values, "event_id": event_row.id, "round_case": record.case_id, "round_task": record.task_key})
        return record

    def add_gate_decision(self, decision: GateDecision) -> GateDecision:
        self.session.add(decision)
        return decision

"""An in-memory unit of work for service tests: the repositories the use cases call, no database.

A write works on a copy of what is committed and replaces it on `commit()`; leaving the
block without commit (or with an error) drops the copy, exactly the contract of the real
unit of work (store/unit_of_work.py), so "changes nothing" can be asserted here too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.engine.clock import now
from iphs_flow.engine.models import ModelCache


@dataclass
class Version:
    id: int
    process_key: str
    version: int
    forms: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseRow:
    id: int
    number: str
    title: str
    owner: str
    process_version: Version
    status: str = "running"
    stage: int | None = 0
    version: int = 1
    incident: str | None = None
    next_timer_at: datetime | None = None
    created_at: datetime = field(default_factory=now)
    updated_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None

    @property
    def process_key(self) -> str:
        return self.process_version.process_key


@dataclass
class TaskRow:
    id: int
    case_id: int
    name: str
    task_key: str
    spiff_task_id: str
    candidate_group: str | None = None
    assignee: str | None = None
    lane: str | None = None
    form_key: str | None = None
    stage: int | None = 0
    due_at: datetime | None = None
    state: str = "open"
    created_at: datetime = field(default_factory=now)
    closed_at: datetime | None = None
    closed_by: str | None = None


@dataclass
class Record:
    """A row the use case made (comment, draft, event): its fields as attributes."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "values":
            super().__setattr__(name, value)
        else:
            self.values[name] = value


def _record(row: Any, **extra: Any) -> Record:
    names = [c.key for c in row.__mapper__.column_attrs]
    return Record({**{n: getattr(row, n) for n in names}, **extra})


@dataclass
class Store:
    cases: dict[int, CaseRow] = field(default_factory=dict)
    tasks: dict[int, TaskRow] = field(default_factory=dict)
    events: list[Record] = field(default_factory=list)
    comments: list[Record] = field(default_factory=list)
    drafts: list[Record] = field(default_factory=list)
    next_id: int = 1000


class _Cases:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, case_id: int) -> CaseRow | None:
        return self.store.cases.get(case_id)

    def by_number(self, number: str) -> CaseRow | None:
        return next((c for c in self.store.cases.values() if c.number == number), None)


class _Tasks:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, task_id: int) -> TaskRow | None:
        return self.store.tasks.get(task_id)

    def with_case(self, task_id: int) -> tuple[TaskRow, CaseRow] | None:
        task = self.store.tasks.get(task_id)
        return (task, self.store.cases[task.case_id]) if task is not None else None

    def open_for_case(self, case_id: int) -> list[TaskRow]:
        return [t for t in self.store.tasks.values() if t.case_id == case_id and t.state == "open"]

    def participants(self, case_id: int) -> tuple[set[str], set[str]]:
        rows = [t for t in self.store.tasks.values() if t.case_id == case_id]
        return ({p for t in rows for p in (t.assignee, t.closed_by) if p},
                {t.candidate_group for t in rows if t.candidate_group})

    def close(self, case_id: int, spiff_ids: list[str], state: str, by: str | None) -> None:
        for task in self.open_for_case(case_id):
            if task.spiff_task_id in spiff_ids:
                task.state, task.closed_at, task.closed_by = state, now(), by


class _Events:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, case_id: int, actor: str, kind: str, *, task_key: str | None = None,
            task_name: str | None = None, data: dict[str, Any] | None = None, at: datetime | None = None) -> Record:
        event = Record({"case_id": case_id, "actor": actor, "kind": kind, "task_key": task_key,
                        "task_name": task_name, "data": data or {}, "at": at or now()})
        self.store.events.append(event)
        return event

    def add_later(self, case_id: int, actor: str, kind: str, **values: Any) -> None:
        self.add(case_id, actor, kind, **values)

    def for_case(self, case_id: int, limit: int = 1000) -> list[Record]:
        return [e for e in self.store.events if e.case_id == case_id][:limit]


class _Comments:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, comment: Any) -> Any:
        self.store.next_id += 1
        comment.id = self.store.next_id
        self.store.comments.append(_record(comment))
        return comment

    def for_case(self, case_id: int) -> list[Record]:
        return sorted((c for c in self.store.comments if c.case_id == case_id), key=lambda c: c.id)


class _Drafts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, task_id: int, username: str) -> Record | None:
        return next((d for d in self.store.drafts if d.task_id == task_id and d.username == username), None)

    def add(self, draft: Any) -> Record:
        record = _record(draft)
        self.store.drafts.append(record)
        return record

    def delete(self, task_id: int, username: str) -> None:
        self.store.drafts[:] = [d for d in self.store.drafts if not (d.task_id == task_id and d.username == username)]


class FakeTransaction:
    def __init__(self, store: Store, uow: FakeUnitOfWork) -> None:
        self._store, self._uow = store, uow
        self.cases = _Cases(store)
        self.tasks = _Tasks(store)
        self.events = _Events(store)
        self.comments = _Comments(store)
        self.drafts = _Drafts(store)

    def flush(self) -> None:
        """Nothing to send anywhere: ids are handed out when rows are added."""

    def commit(self) -> None:
        self._uow.committed = self._store
        self._uow.commits += 1


class FakeUnitOfWork:
    def __init__(self, store: Store | None = None) -> None:
        self.committed = store or Store()
        self.commits = 0

    @contextmanager
    def read(self) -> Iterator[FakeTransaction]:
        yield FakeTransaction(copy.deepcopy(self.committed), self)

    @contextmanager
    def write(self) -> Iterator[FakeTransaction]:
        yield FakeTransaction(copy.deepcopy(self.committed), self)


def fake_context(store: Store | None = None) -> AppContext:
    """An AppContext whose unit of work is in memory (settings are the defaults)."""
    # No engine workers: the use cases tested over this unit of work run no engine step.
    return AppContext(settings=Settings(), uow=FakeUnitOfWork(store), models=ModelCache(),  # type: ignore[arg-type]
                      engine=None)  # type: ignore[arg-type]


def a_case(store: Store, *, owner: str = "anna", status: str = "running", number: str = "IPHS 2026/0001",
           tasks: tuple[dict[str, Any], ...] = ()) -> CaseRow:
    """Put a case (with open tasks) into the store, as if started and committed before."""
    store.next_id += 1
    case = CaseRow(id=store.next_id, number=number, title="Tryggare skolvägar", owner=owner, status=status,
                   process_version=Version(id=1, process_key="innovation", version=3))
    store.cases[case.id] = case
    for spec in tasks:
        store.next_id += 1
        task = TaskRow(id=store.next_id, case_id=case.id, spiff_task_id=f"spiff-{store.next_id}", **spec)
        store.tasks[task.id] = task
    return case

"""Plain read models the use cases return; entrypoints render them, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ProcessInfo:
    key: str
    name: str
    version: int
    version_id: int
    deployed_at: datetime
    deployed_by: str
    form_keys: list[str]


@dataclass(frozen=True)
class DeployOutcome:
    key: str
    name: str
    version: int
    created: bool
    # Things that do not stop a deploy but leave tasks waiting: groups without members.
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskView:
    id: int
    case_id: int
    case_number: str
    case_title: str
    name: str
    task_key: str
    lane: str | None
    candidate_group: str | None
    assignee: str | None
    form_key: str | None
    stage: int | None
    due_at: datetime | None
    state: str
    created_at: datetime

    def is_overdue(self, at: datetime) -> bool:
        return self.state == "open" and self.due_at is not None and self.due_at < at


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    kind: str
    task_key: str | None
    task_name: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class CaseView:
    id: int
    number: str
    title: str
    process_key: str
    process_version: int
    status: str
    stage: int | None
    owner: str
    version: int
    incident: str | None
    next_timer_at: datetime | None
    created_at: datetime
    updated_at: datetime
    open_tasks: list[TaskView] = field(default_factory=list)


@dataclass(frozen=True)
class CaseDetail:
    case: CaseView
    data: dict[str, Any]
    history: list[EventView]


@dataclass(frozen=True)
class TimerRun:
    due: int = 0
    fired: int = 0
    incidents: int = 0
    conflicts: int = 0

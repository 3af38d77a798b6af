"""Repositories: the only place that writes SQL for cases, tasks, history and versions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from iphs_flow.engine.clock import now

from .tables import (
    AccessLog,
    Case,
    CaseCounter,
    CaseEvent,
    GroupMember,
    HumanTask,
    Outbox,
    ProcessVersion,
    UserAccount,
    UserGroup,
    UserRole,
)


def _insert_for(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class ProcessRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, version: ProcessVersion) -> ProcessVersion:
        self.session.add(version)
        self.session.flush()
        return version

    def get(self, version_id: int) -> ProcessVersion | None:
        return self.session.get(ProcessVersion, version_id)

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

    def earliest_timer(self) -> datetime | None:
        return self.session.scalar(select(func.min(Case.next_timer_at)).where(Case.status == "running"))

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

    def list(self, *, owner: str | None = None, status: str | None = None, limit: int = 100,
             offset: int = 0) -> Sequence[Case]:
        query = select(Case).order_by(Case.id.desc()).limit(limit).offset(offset)
        if owner is not None:
            query = query.where(Case.owner == owner)
        if status is not None:
            query = query.where(Case.status == status)
        return self.session.scalars(query).all()


class TaskRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, task_id: int) -> HumanTask | None:
        return self.session.get(HumanTask, task_id)

    def open_for_case(self, case_id: int) -> Sequence[HumanTask]:
        return self.session.scalars(
            select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "open")
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

    def participants(self, case_id: int) -> tuple[set[str], set[str]]:
        """People and groups who have or had a task in the case (they may see it)."""
        rows = self.session.execute(
            select(HumanTask.assignee, HumanTask.closed_by, HumanTask.candidate_group)
            .where(HumanTask.case_id == case_id)).all()
        people = {p for row in rows for p in (row[0], row[1]) if p}
        groups = {row[2] for row in rows if row[2]}
        return people, groups

    def close(self, case_id: int, spiff_ids: list[str], state: str, by: str | None) -> None:
        if not spiff_ids:
            return
        self.session.execute(
            update(HumanTask)
            .where(HumanTask.case_id == case_id, HumanTask.spiff_task_id.in_(spiff_ids),
                   HumanTask.state == "open")
            .values(state=state, closed_at=now(), closed_by=by)
        )

    def list_open(self, *, case_id: int | None = None, assignee: str | None = None,
                  groups: list[str] | None = None, limit: int = 200) -> Sequence[HumanTask]:
        query = (select(HumanTask).where(HumanTask.state == "open")
                 .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id).limit(limit))
        if case_id is not None:
            query = query.where(HumanTask.case_id == case_id)
        if assignee is not None or groups is not None:
            conditions = []
            if assignee is not None:
                conditions.append(HumanTask.assignee == assignee)
            if groups:
                conditions.append(HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups))
            query = query.where(or_(*conditions))
        return self.session.scalars(query).all()


class EventRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, case_id: int, actor: str, kind: str, *, task_key: str | None = None,
            task_name: str | None = None, data: dict[str, Any] | None = None,
            at: datetime | None = None) -> CaseEvent:
        event = CaseEvent(case_id=case_id, actor=actor, kind=kind, task_key=task_key,
                          task_name=task_name, data=data or {}, at=at or now())
        self.session.add(event)
        return event

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
        insert = _insert_for(self.session)
        stmt = insert(Outbox).values(
            idempotency_key=idempotency_key, kind=kind, payload=payload, case_id=case_id,
            status="pending", due_at=due_at or now(), attempts=0, created_at=now(),
        ).on_conflict_do_nothing(index_elements=[Outbox.idempotency_key])
        result = self.session.execute(stmt)
        return bool(result.rowcount)

    def for_case(self, case_id: int) -> Sequence[Outbox]:
        return self.session.scalars(select(Outbox).where(Outbox.case_id == case_id).order_by(Outbox.id)).all()


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

    def all(self) -> Sequence[UserAccount]:
        return self.session.scalars(select(UserAccount).order_by(UserAccount.username)).all()

    def log(self, event: str, username: str | None, detail: dict[str, Any] | None = None,
            remote_addr: str | None = None) -> None:
        self.session.add(AccessLog(event=event, username=username, detail=detail or {},
                                   remote_addr=remote_addr, at=now()))

"""Inbox and task lists: queries on the inbox index (human_task) and two columns of each case.

Workflow state and process files are never read here, so a list costs the same few
statements whether it holds three tasks or three hundred.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import Case, HumanTask

from ..errors import Forbidden
from ..permissions import Actor
from ..views import TaskView
from ..visibility import visible_case


def task_view(row: HumanTask, case_number: str, case_title: str) -> TaskView:
    """The one way a task row becomes a TaskView (with its case's number and title)."""
    return TaskView(
        id=row.id, case_id=row.case_id, case_number=case_number, case_title=case_title, name=row.name,
        task_key=row.task_key, lane=row.lane, candidate_group=row.candidate_group, assignee=row.assignee,
        form_key=row.form_key, stage=row.stage, due_at=row.due_at, state=row.state, created_at=row.created_at,
    )


def _with_case_columns() -> Select:
    return select(HumanTask, Case.number, Case.title).join(Case, Case.id == HumanTask.case_id)


@dataclass(frozen=True)
class InboxPage:
    tasks: list[TaskView]
    total: int
    offset: int
    limit: int


INBOX_SORTS = ("due", "case", "stage", "created")


def inbox(ctx: AppContext, actor: Actor, *, show: str = "all", q: str = "", sort: str = "due",
          offset: int = 0, limit: int = 50) -> InboxPage:
    """One page of the actor's inbox, filtered and sorted in the database.

    Reads only the inbox index and two columns of each case (number, title): never the
    workflow state or the process files, so the page stays fast with a full group queue.
    """
    mine = HumanTask.assignee == actor.username
    groups = sorted(actor.groups)
    unclaimed = HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups) if groups else None
    if show == "mine":
        who = mine
    elif show == "group":
        who = unclaimed if unclaimed is not None else HumanTask.id.is_(None)
    else:
        who = or_(mine, unclaimed) if unclaimed is not None else mine
    query = _with_case_columns().where(HumanTask.state == "open", who)
    if show == "overdue":
        query = query.where(HumanTask.due_at < now())
    text = q.strip()[:100]
    if text:
        like = f"%{text.lower()}%"
        query = query.where(or_(func.lower(Case.number).like(like), func.lower(Case.title).like(like),
                                func.lower(HumanTask.name).like(like)))
    order = {
        "due": (HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id),
        "case": (Case.number, HumanTask.id),
        "stage": (HumanTask.stage.is_(None), HumanTask.stage, HumanTask.id),
        "created": (HumanTask.created_at, HumanTask.id),
    }[sort if sort in INBOX_SORTS else "due"]
    limit = max(1, min(limit, 200))
    offset = max(0, offset)
    with ctx.uow.read() as tx:
        total = tx.session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
        rows = tx.session.execute(query.order_by(*order).limit(limit).offset(offset)).all()
        tasks = [task_view(t, number, title) for t, number, title in rows]
    return InboxPage(tasks, total, offset, limit)


def list_tasks(ctx: AppContext, actor: Actor, case_ref: str | int | None = None, *,
               everyone: bool = False, limit: int = 200, show: str = "all") -> list[TaskView]:
    """Open tasks from the inbox index alone (API `GET /tasks`, CLI `tasks`), soonest due first.

    By default the actor's inbox: tasks assigned to them and their groups' unclaimed
    tasks; `show="mine"` only the first, `show="group"` only the second. `everyone`
    (innovation leads, administrators) lists all open tasks.
    """
    assignee: str | None = actor.username
    groups: list[str] | None = sorted(actor.groups)
    if show == "mine":
        groups = None
    elif show == "group":
        if not groups:
            return []
        assignee = None
    if everyone:
        if not actor.sees_all_cases:
            raise Forbidden("only innovation leads and administrators see every task")
        assignee = groups = None
    query = _with_case_columns().where(HumanTask.state == "open")
    # Without a case to check first the list is one statement, which needs no snapshot (no BEGIN/ROLLBACK).
    with ctx.uow.read(snapshot=case_ref is not None) as tx:
        if case_ref is not None:
            query = query.where(HumanTask.case_id == visible_case(tx, case_ref, actor).id)
        if assignee is not None or groups is not None:
            who = []
            if assignee is not None:
                who.append(HumanTask.assignee == assignee)
            if groups:
                who.append(HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups))
            query = query.where(or_(*who) if who else HumanTask.id.is_(None))
        rows = tx.session.execute(query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
                                  .limit(limit)).all()
        return [task_view(t, number, title) for t, number, title in rows]


def overdue_tasks(ctx: AppContext, actor: Actor, limit: int = 200) -> list[TaskView]:
    """Open tasks past their due date, most overdue first (innovation leads and administrators)."""
    if not actor.sees_all_cases:
        raise Forbidden("only innovation leads and administrators see every task")
    with ctx.uow.read(snapshot=False) as tx:  # one statement
        rows = tx.session.execute(
            _with_case_columns().where(HumanTask.state == "open", HumanTask.due_at < now())
            .order_by(HumanTask.due_at, HumanTask.id).limit(limit)).all()
        return [task_view(t, number, title) for t, number, title in rows]

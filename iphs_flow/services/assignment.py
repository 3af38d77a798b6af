"""Who works on a task: claim, unclaim, assign and delegate.

A new task waits for its candidate group (from its BPMN lane); one member claims it and
from then on only that person may complete it. Every change is a compare-and-set on
the inbox row (`UPDATE … WHERE assignee IS <what the caller saw>`), so when two people
claim at once exactly one wins and the other gets a Conflict naming the winner. Each
change is written to the case history with its actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.tables import Case, HumanTask

from .errors import Conflict, Forbidden, InvalidInput
from .permissions import ADMINISTRATOR, INNOVATION_LEAD, Actor
from .queries.tasks import task_view
from .task_notices import announce_handed_on
from .views import TaskView
from .visibility import visible_task


def _open_task(tx: Any, task_id: int, actor: Actor) -> tuple[HumanTask, Case]:
    row, case = visible_task(tx, task_id, actor)
    if row.state != "open":
        who = f" by {row.closed_by}" if row.closed_by else ""
        raise Conflict(f"the task '{row.name}' is already {row.state}{who}")
    return row, case


def _swap(tx: Any, row: HumanTask, expected: str | None, new: str | None) -> None:
    if not tx.tasks.swap_assignee(row.id, expected, new):
        tx.session.refresh(row)
        if row.state != "open":
            raise Conflict(f"the task '{row.name}' was {row.state} at the same time")
        holder = f"claimed by {row.assignee}" if row.assignee else "released"
        raise Conflict(f"the task '{row.name}' was just {holder}; reload and try again")
    tx.session.refresh(row)


def _active_user(tx: Any, username: str) -> Any:
    user = tx.users.by_username(username.strip()) if username and username.strip() else None
    if user is None or not user.is_active:
        raise InvalidInput(f"there is no active user '{username}'", {"to": [f"no active user '{username}'"]})
    return user


def _is_lead(actor: Actor) -> bool:
    return actor.is_system or bool({INNOVATION_LEAD, ADMINISTRATOR} & actor.roles)


def _record(tx: Any, case: Case, row: HumanTask, actor: Actor, kind: str, **data: Any) -> TaskView:
    event = tx.events.add(case.id, actor.username, kind, task_key=row.task_key, task_name=row.name,
                          data={"task_id": row.id, **data})
    if kind in ("task_assigned", "task_delegated"):
        tx.flush()
        announce_handed_on(tx, case, row, actor.username, event.id)
    view = task_view(row, case.number, case.title)
    tx.commit()
    return view


def claim_task(ctx: AppContext, task_id: int, actor: Actor) -> TaskView:
    """Take an unclaimed group task: only members of its candidate group may."""
    with ctx.uow.write() as tx:
        row, case = _open_task(tx, task_id, actor)
        if row.assignee == actor.username:
            return task_view(row, case.number, case.title)  # claiming twice is harmless
        if not actor.is_system and (row.candidate_group is None or row.candidate_group not in actor.groups):
            group = f"the group {row.candidate_group}" if row.candidate_group else "a named person"
            raise Forbidden(f"this task is for {group}; you cannot claim it")
        if row.assignee is not None:
            raise Conflict(f"the task '{row.name}' is already claimed by {row.assignee}")
        _swap(tx, row, None, actor.username)
        return _record(tx, case, row, actor, "task_claimed", assignee=actor.username)


def unclaim_task(ctx: AppContext, task_id: int, actor: Actor) -> TaskView:
    """Give a claimed task back to its group (the assignee, or an innovation lead/administrator)."""
    with ctx.uow.write() as tx:
        row, case = _open_task(tx, task_id, actor)
        if row.assignee is None:
            raise Conflict(f"the task '{row.name}' is not claimed by anyone")
        if row.assignee != actor.username and not _is_lead(actor):
            raise Forbidden(f"the task is claimed by {row.assignee}; only they can give it back")
        if row.candidate_group is None:
            raise Conflict(f"the task '{row.name}' has no group to go back to; delegate it to a person instead")
        previous = row.assignee
        _swap(tx, row, previous, None)
        return _record(tx, case, row, actor, "task_unclaimed", previous=previous, group=row.candidate_group)


def assign_task(ctx: AppContext, task_id: int, to: str, actor: Actor, *, rescope: bool = False) -> TaskView:
    """An innovation lead or administrator names who does a task.

    The person must belong to the task's candidate group; assigning someone outside it
    (say a deputy) must be explicit (`rescope`) and is recorded as such.
    """
    if not _is_lead(actor):
        raise Forbidden("only innovation leads and administrators assign tasks to others")
    with ctx.uow.write() as tx:
        row, case = _open_task(tx, task_id, actor)
        user = _active_user(tx, to)
        member = row.candidate_group is not None and row.candidate_group in tx.users.groups(user.id)
        if not member and not rescope:
            group = row.candidate_group or "no group"
            raise InvalidInput(f"{user.username} is not in {group}; confirm that the task should go to them anyway",
                               {"to": [f"not a member of {group}"]})
        previous = row.assignee
        if previous == user.username:
            return task_view(row, case.number, case.title)
        _swap(tx, row, previous, user.username)
        return _record(tx, case, row, actor, "task_assigned", previous=previous, assignee=user.username,
                       rescoped=not member)


def delegate_task(ctx: AppContext, task_id: int, to: str, actor: Actor) -> TaskView:
    """The assignee hands their task to a named person (a member of the task's group, if it has one)."""
    with ctx.uow.write() as tx:
        row, case = _open_task(tx, task_id, actor)
        if row.assignee != actor.username and not actor.is_system:
            holder = f"claimed by {row.assignee}" if row.assignee else "not claimed by you"
            raise Forbidden(f"the task is {holder}; only its assignee can delegate it")
        user = _active_user(tx, to)
        if user.username == actor.username:
            raise InvalidInput("you already have this task", {"to": ["choose someone else"]})
        if row.candidate_group is not None and row.candidate_group not in tx.users.groups(user.id):
            raise InvalidInput(f"{user.username} is not in {row.candidate_group}; "
                               "ask an innovation lead to assign the task outside the group",
                               {"to": [f"not a member of {row.candidate_group}"]})
        _swap(tx, row, row.assignee, user.username)
        return _record(tx, case, row, actor, "task_delegated", previous=actor.username, assignee=user.username)


def candidates(ctx: AppContext, task_id: int, actor: Actor) -> list[tuple[str, str]]:
    """(username, display name) of the people a task may go to: its group's active members."""
    with ctx.uow.read() as tx:
        row, _ = _open_task(tx, task_id, actor)
        if row.candidate_group is None:
            return []
        return [(u.username, u.display_name) for u in tx.users.members(row.candidate_group)]


@dataclass(frozen=True)
class PersonChoice:
    username: str
    display_name: str


@dataclass(frozen=True)
class Handover:
    """Who holds a task and what the actor may do about it, for the people pickers of a page."""

    task: TaskView
    holder_name: str | None  # the assignee's display name
    may_assign: bool  # innovation leads and administrators: name (or rename) who does it
    may_delegate: bool  # the assignee: hand it to someone in its group
    may_release: bool  # give a claimed task back to its group
    members: tuple[PersonChoice, ...]  # the group's active members
    everyone: tuple[PersonChoice, ...]  # every active person (assigning outside the group), leads only


MAX_PEOPLE = 2000


def handover(ctx: AppContext, task_id: int, actor: Actor) -> Handover:
    """The choices the assign/delegate/reassign forms offer; only real, active people."""
    with ctx.uow.read() as tx:
        row, case = _open_task(tx, task_id, actor)
        members = tuple(PersonChoice(u.username, u.display_name)
                        for u in (tx.users.members(row.candidate_group) if row.candidate_group else ()))
        lead = _is_lead(actor)
        everyone = tuple(PersonChoice(u.username, u.display_name)
                         for u in tx.users.active(limit=MAX_PEOPLE)) if lead else ()
        holder = tx.users.by_username(row.assignee) if row.assignee else None
        mine = row.assignee == actor.username
        return Handover(
            task=task_view(row, case.number, case.title), holder_name=holder.display_name if holder else row.assignee,
            may_assign=lead, may_delegate=mine and not lead,
            may_release=row.assignee is not None and row.candidate_group is not None and (mine or lead),
            members=members, everyone=everyone)

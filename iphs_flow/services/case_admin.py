"""Administrators' operations on a case: suspend, resume, terminate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now

from .case_sync import case_view
from .errors import Conflict, InvalidInput
from .lessons import LESSON_KEYS, MAX_TEXT, record_for_stop
from .permissions import ADMINISTRATOR, Actor, require_role
from .views import CaseView
from .visibility import find_case


def _change(ctx: AppContext, case_ref: str | int, actor: Actor, allowed: tuple[str, ...], new_status: str,
            kind: str, data: dict, lesson: Mapping[str, Any] | None = None) -> CaseView:
    require_role(actor, ADMINISTRATOR, f"{kind.removeprefix('case_')} cases")
    with ctx.uow.write() as tx:
        case = find_case(tx, case_ref)
        if case.status not in allowed:
            raise Conflict(f"case {case.number} is {case.status}; it cannot be {kind.removeprefix('case_')}")
        case.status = new_status
        case.updated_at = now()
        if new_status == "terminated":
            open_ids = [t.spiff_task_id for t in tx.tasks.open_for_case(case.id)]
            tx.tasks.close(case.id, open_ids, "cancelled", actor.username)
            case.next_timer_at = None
            case.closed_at = now()
        event = tx.events.add(case.id, actor.username, kind, data=data)
        if lesson:
            record_for_stop(tx.session, case, lesson, actor.username, event)
        tx.flush()
        view = case_view(case, list(tx.tasks.open_for_case(case.id)))
        tx.commit()
    return view


def suspend_case(ctx: AppContext, case_ref: str | int, actor: Actor, reason: str = "") -> CaseView:
    """Nothing moves while suspended: tasks cannot be completed and timers wait."""
    return _change(ctx, case_ref, actor, ("running",), "suspended", "case_suspended", {"reason": reason})


def resume_case(ctx: AppContext, case_ref: str | int, actor: Actor) -> CaseView:
    """Back to running; timers that fell due meanwhile fire on the next tick."""
    return _change(ctx, case_ref, actor, ("suspended",), "running", "case_resumed", {})


def terminate_case(ctx: AppContext, case_ref: str | int, actor: Actor, reason: str,
                   lesson: Mapping[str, Any] | None = None) -> CaseView:
    """End a case for good; the reason is required and kept in the history.

    `lesson` may hold what worked, what did not and what others can reuse (`lessons_worked`,
    `lessons_not_worked`, `lessons_learned`): it becomes the case's lesson of the stop.
    """
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required to terminate a case", {"reason": ["required"]})
    if lesson is not None:
        too_long = [key for key in LESSON_KEYS if isinstance(lesson.get(key), str) and len(lesson[key]) > MAX_TEXT]
        if too_long:
            raise InvalidInput(f"a lesson's text may be at most {MAX_TEXT} characters",
                               {key: [f"at most {MAX_TEXT} characters"] for key in too_long})
    return _change(ctx, case_ref, actor, ("running", "suspended", "incident"), "terminated", "case_terminated",
                   {"reason": reason.strip()}, lesson)

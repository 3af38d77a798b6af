"""Who may see a case: found and visible, or NotFound alike (ids cannot be probed).

Every use case and query that takes a case or task reference from a caller goes through
these functions, so the rule is written once.
"""

from __future__ import annotations

from iphs_flow.store.repositories import StepRead
from iphs_flow.store.tables import Case, HumanTask
from iphs_flow.store.unit_of_work import Transaction

from .errors import NotFound
from .permissions import Actor, require_case_visible

MAX_ID = 2**63 - 1


def find_case(tx: Transaction, case_ref: str | int) -> Case:
    """A case by id or number; NotFound otherwise (ids beyond BIGINT, and digits like '²', are just not found)."""
    case = None
    if isinstance(case_ref, str) and case_ref.isascii() and case_ref.isdigit() and len(case_ref) <= 19:
        case_ref_id: int | None = int(case_ref)
    else:
        case_ref_id = case_ref if isinstance(case_ref, int) else None
    if case_ref_id is not None and 0 < case_ref_id <= MAX_ID:
        case = tx.cases.get(case_ref_id)
    if case is None and isinstance(case_ref, str):
        case = tx.cases.by_number(case_ref)
    if case is None:
        raise NotFound(f"there is no case {case_ref}")
    return case


def require_visible(tx: Transaction, actor: Actor, case: Case, case_ref: object) -> None:
    """NotFound (as for a case that does not exist) unless the actor may see the case."""
    if actor.sees_all_cases or case.owner == actor.username:
        return
    participants, groups = tx.tasks.participants(case.id)
    require_case_visible(actor, case.owner, participants, groups, case_ref)


def visible_case(tx: Transaction, case_ref: str | int, actor: Actor) -> Case:
    """A case by number or id, or NotFound alike when it does not exist and when the actor may not see it."""
    case = find_case(tx, case_ref)
    require_visible(tx, actor, case, case_ref)
    return case


def visible_task(tx: Transaction, task_id: int, actor: Actor) -> tuple[HumanTask, Case]:
    """A task and its case, or NotFound alike for a task that does not exist and one in a case
    the actor may not see (ids cannot be probed). Read in one query."""
    found = tx.tasks.with_case(task_id)
    if found is None:
        raise NotFound(f"there is no task {task_id}")
    row, case = found
    require_visible(tx, actor, case, f"for task {task_id}")
    return row, case


def visible_task_for_step(tx: Transaction, task_id: int, actor: Actor) -> StepRead:
    """As visible_task, with all a completion of it needs, in the same query: the case's workflow
    state, its open tasks, whether it waits for a message (TaskRepository.for_step)."""
    found = tx.tasks.for_step(task_id)
    if found is None:
        raise NotFound(f"there is no task {task_id}")
    require_visible(tx, actor, found.case, f"for task {task_id}")
    return found

"""Nobody waits unseen: a task that opens, or is handed to someone, is announced to its people.

Called inside the transaction that opens the task (case_sync.apply_step) or hands it on
(assignment), so the announcement is an outbox "notification" job written with the task
itself: the scheduler turns it into in-app notifications and mails (or digest items, by
each person's own choice), resolving the task's holders when it runs: its assignee, or
every active member of its group while nobody has claimed it. The person whose action
opened the task is not told about it; they are looking at it already.

A task whose group has no active member goes to the innovation leads (the group
`innovation-leads`) instead, with a history entry saying so and a notice to them. When
the innovation leads have nobody either, the history says the task is unstaffed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from iphs_flow.engine.clock import now
from iphs_flow.store.tables import Case, HumanTask
from iphs_flow.store.unit_of_work import Transaction

FALLBACK_GROUP = "innovation-leads"
OPENED = "task_opened"
HANDED_ON = "task_assigned"


def has_members(tx: Transaction, group: str) -> bool:
    return tx.users.has_active_member(group)


def _staff(tx: Transaction, case: Case, row: HumanTask) -> str | None:
    """The group a task was moved away from because nobody is in it; None when it stays."""
    group = row.candidate_group
    if row.assignee is not None or not group or has_members(tx, group):
        return None
    if group != FALLBACK_GROUP and has_members(tx, FALLBACK_GROUP):
        row.candidate_group = FALLBACK_GROUP
        tx.events.add_later(case.id, "system", "task_rerouted", task_key=row.task_key, task_name=row.name,
                      data={"task_id": row.id, "from_group": group, "to_group": FALLBACK_GROUP})
        return group
    tx.events.add_later(case.id, "system", "task_unstaffed", task_key=row.task_key, task_name=row.name,
                  data={"task_id": row.id, "group": group, "fallback": FALLBACK_GROUP})
    return ""


def _queue(tx: Transaction, case: Case, row: HumanTask, key: str, template: str, skip: str | None,
           params: dict[str, Any]) -> None:
    payload: dict[str, Any] = {
        "template": template, "to": "assignee", "task_id": row.id, "about_task": row.task_key,
        "only_open": True, "skip": [skip] if skip else [], "params": params,
        "case_number": case.number, "case_title": case.title,
    }
    tx.outbox.add_once(key, "notification", payload, case_id=case.id, due_at=now())


def announce_new_tasks(tx: Transaction, case: Case, known_spiff_ids: Iterable[str], actor: str,
                       open_rows: Iterable[HumanTask] | None = None) -> None:
    """Announce every open task of `case` that is not among `known_spiff_ids` (those were open before).

    `open_rows` are the case's open tasks when the caller knows them already (else they are read).
    """
    known = set(known_spiff_ids)
    for row in (tx.tasks.open_for_case(case.id) if open_rows is None else open_rows):
        if row.spiff_task_id in known:
            continue
        moved_from = _staff(tx, case, row)
        if moved_from == "":
            continue  # nobody at all to tell; the history says so
        if row.assignee is not None and row.assignee == actor:
            continue  # they opened it themselves and are shown it now
        params = {"group": row.candidate_group or "", "from_group": moved_from or ""}
        _queue(tx, case, row, f"{OPENED}:{row.id}", OPENED, actor, params)


def announce_handed_on(tx: Transaction, case: Case, row: HumanTask, actor: str, event_id: int) -> None:
    """Tell the new assignee of a task an innovation lead assigned or a colleague delegated to them."""
    if not row.assignee or row.assignee == actor:
        return
    by = tx.users.by_username(actor)
    _queue(tx, case, row, f"{HANDED_ON}:{row.id}:{event_id}", HANDED_ON, actor,
           {"by": by.display_name if by is not None else actor})

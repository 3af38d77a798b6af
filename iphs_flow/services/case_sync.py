"""Write an engine step into the database: case row, inbox index, history and outbox.

Everything here happens inside the caller's transaction, so the case state, its open
tasks and its history can never disagree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from iphs_flow.config import NO_LANE, OWNER
from iphs_flow.engine.clock import now
from iphs_flow.engine.runtime import OpenTask, StepResult
from iphs_flow.engine.workers import ModelRef
from iphs_flow.store.tables import Case, HumanTask, MessageWait, ProcessVersion
from iphs_flow.store.unit_of_work import Transaction

from .following import announce_stage_change
from .queries.tasks import task_view
from .records import DECISION_TEMPLATE, collapse_reminders, decision_details, record_engine_decision
from .task_notices import announce_new_tasks
from .views import CaseView

ENGINE = "system"
STEP_ATTEMPTS = 3  # a step computed on a case that changed meanwhile is computed again


_REFS: OrderedDict[tuple[str, str, int], ModelRef] = OrderedDict()
_REFS_KEPT = 64
_REFS_LOCK = threading.Lock()


def engine_ref(version: ProcessVersion, stored_length: int | None = None) -> ModelRef:
    """What the engine workers need to run a case of `version` (they cache the parsed spec).

    A deployed version's content never changes (its content hash names it), so with
    `stored_length` (the length of its stored files, read in the same query as the case)
    the files are read from the database once per process, not on every step; the length
    is part of the key so that a version edited in place (by hand, by a bad migration) is
    read again rather than served from the copy.
    """
    if stored_length is None:
        return ModelRef.of(version.process_key, version.files)
    return _kept(_REFS, (version.process_key, version.content_hash, stored_length),
                 lambda: ModelRef.of(version.process_key, version.files))


def _kept(cache: OrderedDict, key: tuple, load: Any) -> Any:
    """The value kept under `key`, else `load()`'s, kept; the least recently used go beyond
    _REFS_KEPT. Loading runs outside the lock: two threads may both load, and either copy is right."""
    with _REFS_LOCK:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
    value = load()
    with _REFS_LOCK:
        cache[key] = value
        while len(cache) > _REFS_KEPT:
            cache.popitem(last=False)
    return value


_FORMS: OrderedDict[tuple[int, str, int | None], dict[str, Any]] = OrderedDict()


def version_forms(tx: Transaction, version: ProcessVersion, stored_length: int | None) -> dict[str, Any]:
    """The forms of a deployed version, read from the database once per process (as engine_ref
    keeps its files): `stored_length`, the length of the stored forms read with the case, tells a
    version edited in place from the copy kept here. Treat the answer as read-only."""
    return _kept(_FORMS, (version.id, version.content_hash, stored_length),
                 lambda: tx.processes.forms_of(version.id))


def _assignment(task: OpenTask, case: Case, lane_groups: dict[str, str]) -> tuple[str | None, str | None]:
    """(candidate group, assignee) for a new task: the model's assignee and group, else its lane's
    (a task in no lane: the fallback group)."""
    group = task.candidate_group or lane_groups.get(task.lane if task.lane else NO_LANE)
    if task.assignee:
        return (None if group == OWNER else group), task.assignee
    if group == OWNER:
        return None, case.owner
    return group, None


def group_to_staff(case: Case, result: StepResult, open_before: list[HumanTask],
                   lane_groups: dict[str, str]) -> str | None:
    """The group of the first task the step opens for a group (nobody named), if any: whether anyone
    is in it decides who is told of it (task_notices.py), and the write can find out with its first
    statement instead of a query of its own."""
    if result.unchanged:
        return None
    known = {row.spiff_task_id for row in open_before}
    for task in result.open_tasks:
        if task.id not in known:
            group, assignee = _assignment(task, case, lane_groups)
            if group and assignee is None:
                return group
    return None


def apply_step(tx: Transaction, case: Case, result: StepResult, lane_groups: dict[str, str],
               actor: str, open_before: list[HumanTask] | None = None,
               waits: bool | None = None, at: datetime | None = None) -> list[HumanTask]:
    """Store `result` on `case` and bring the inbox, history and outbox in step with it;
    returns the case's open tasks as they now are (the caller's answer shows them).

    A step that did not run at all (its worker was killed over a limit) changes nothing
    but the case's status: the state, the open tasks and their ids stay, so a retry
    runs the same step again.

    The open tasks are read once; what the step closes and opens is then known here, so
    the notices and the answer need no second read. Nothing is flushed until the new
    tasks need their ids, so the case row and the inbox rows go to the database together,
    and the step's history rows, which nobody needs the ids of, are written in one INSERT
    (EventRepository.add_later). A caller that read the case's open tasks
    (`open_before`) and whether it waits for a message (`waits`) in this transaction, with
    the case row, passes them on and saves the queries. `at`: when the step happened (now if not given).
    """
    with tx.session.no_autoflush:
        return _apply_step(tx, case, result, lane_groups, actor, open_before, waits, at or now())


def _apply_step(tx: Transaction, case: Case, result: StepResult, lane_groups: dict[str, str],
                actor: str, open_before: list[HumanTask] | None, waits: bool | None, at: datetime) -> list[HumanTask]:
    if result.unchanged:
        if case.state in (None, "", "{}"):
            case.state = result.state_json()  # a start: the case as it was before anything ran
        case.status, case.incident, case.next_timer_at, case.updated_at = "incident", result.incident, None, at
        tx.events.add(case.id, ENGINE, "incident", data={"message": result.incident}, at=at)
        tx.flush()
        return list(tx.tasks.open_for_case(case.id))
    stage_before = case.stage
    case.state = result.state_json()
    case.status = result.status
    case.incident = result.incident
    case.next_timer_at = result.next_timer_at
    case.updated_at = at
    if result.stage is not None:
        if result.stage != case.stage:  # the history the portfolio's funnel and stage times are read from
            tx.events.add_later(case.id, ENGINE, "stage_entered", data={"stage": result.stage, "from": case.stage},
                                at=at)
        case.stage = result.stage
    if result.status == "completed" and case.closed_at is None:
        case.closed_at = at
    announce_stage_change(tx, case, stage_before, case.stage, actor, at)

    for step in result.finished:
        if step.manual and step.outcome == "completed":
            continue  # the use case records the completion with its actor and data
        if step.kind in ("UserTask", "ManualTask") and step.outcome == "cancelled":
            kind = "task_cancelled"
        elif step.timer and step.outcome == "completed":
            kind = "timer_fired"
        else:
            kind = {"completed": "step", "cancelled": "step_cancelled", "error": "step_failed"}[step.outcome]
        tx.events.add_later(case.id, ENGINE, kind, task_key=step.bpmn_id, task_name=step.name,
                      data={"type": step.kind}, at=at)

    open_ids = [t.id for t in result.open_tasks]
    before = list(tx.tasks.open_for_case(case.id)) if open_before is None else list(open_before)
    existing = {row.spiff_task_id: row for row in before}
    completed = {s.id for s in result.finished if s.manual and s.outcome == "completed"}
    gone = [sid for sid in existing if sid not in open_ids]
    tx.tasks.close(case.id, [s for s in gone if s in completed], "completed", actor)
    tx.tasks.close(case.id, [s for s in gone if s not in completed], "cancelled", actor)
    opened: list[HumanTask] = []
    for task in result.open_tasks:
        row = existing.get(task.id)
        if row is not None:
            # A migrated case keeps its task ids; the definition may have changed.
            row.name, row.form_key, row.stage, row.lane = task.name, task.form_key, task.stage, task.lane
            row.task_key = task.bpmn_id
            continue
        group, assignee = _assignment(task, case, lane_groups)
        opened.append(HumanTask(
            case_id=case.id, spiff_task_id=task.id, task_key=task.bpmn_id, name=task.name,
            process_id=task.process_id, lane=task.lane, candidate_group=group, assignee=assignee,
            form_key=task.form_key, stage=task.stage, due_at=task.due_at, state="open", created_at=at,
        ))
        tx.events.add_later(case.id, ENGINE, "task_opened", task_key=task.bpmn_id, task_name=task.name,
                      data={"due_at": task.due_at.isoformat() if task.due_at else None,
                            "candidate_group": group, "assignee": assignee}, at=at)
    # The new tasks' ids name their notices and the answer's links: they are written now (Core
    # INSERTs, no flush). The step's history rows are not needed yet: they wait (add_later) and go
    # with the rest of them in one INSERT.
    tx.tasks.insert_open(opened)
    open_rows = [row for row in before if row.spiff_task_id not in gone] + opened
    announce_new_tasks(tx, case, existing, actor, open_rows=open_rows)

    for index, note in enumerate(collapse_reminders(result.notifications)):
        params = note.params
        if note.template == DECISION_TEMPLATE:  # the question, the conditions, the resume date go along
            params = {**decision_details(params.get("decision"), result.completed_data), **params}
        payload: dict[str, Any] = {
            "template": note.template, "to": note.to, "about_task": note.about_task,
            "params": params, "case_number": case.number, "case_title": case.title,
        }
        key = f"notify:{case.id}:{note.source_task_id}:{index}"
        tx.outbox.add_once(key, "notification", payload, case_id=case.id, due_at=at)
        if actor == ENGINE:  # a decision the process took by itself is recorded with its history row
            event = tx.events.add(case.id, ENGINE, "notification", task_key=note.source, data=payload, at=at)
            record_engine_decision(tx, case, note, result, event)
        else:
            tx.events.add_later(case.id, ENGINE, "notification", task_key=note.source, data=payload, at=at)

    sync_waits(tx, case, result, waited=waits)
    if result.incident:
        tx.events.add_later(case.id, ENGINE, "incident", data={"message": result.incident}, at=at)
    if result.status == "completed":
        tx.events.add_later(case.id, ENGINE, "case_closed", data={}, at=at)
    return open_rows


def correlation_values(case: Case, data: dict[str, Any]) -> dict[str, Any]:
    """What a message may correlate on: the case number and the case's top-level plain values."""
    values: dict[str, Any] = {k: v for k, v in data.items()
                              if isinstance(v, (str, int, float, bool)) and len(str(v)) <= 500}
    values["case_number"] = case.number
    return values


def sync_waits(tx: Transaction, case: Case, result: StepResult, waited: bool | None = None) -> None:
    """Keep the subscription index (message_wait) in step with what the case now waits for
    (`waited` False: the caller saw, in this transaction, that it waited for nothing before)."""
    session = tx.session
    if waited is not False:
        session.execute(delete(MessageWait).where(MessageWait.case_id == case.id))
    for index, (kind, name, payload) in enumerate(result.thrown):
        # Delivered by the job loop in a transaction of its own, like any other outgoing work.
        tx.outbox.add_once(f"{kind}:{case.id}:{case.version}:{index}:{name}", "bpmn_event",
                           {"kind": kind, "name": name, "payload": payload, "from_case": case.number},
                           case_id=case.id, due_at=now())
    if result.status != "running":
        return
    values = correlation_values(case, result.data)
    for kind, name in result.waiting:
        session.add(MessageWait(case_id=case.id, kind=kind, name=name[:200], correlation=values))


def case_view(case: Case, open_tasks: list[HumanTask] | None = None) -> CaseView:
    return CaseView(
        id=case.id, number=case.number, title=case.title, process_key=case.process_key,
        process_version=case.process_version.version, status=case.status, stage=case.stage,
        owner=case.owner, version=case.version, incident=case.incident,
        next_timer_at=case.next_timer_at, created_at=case.created_at, updated_at=case.updated_at,
        open_tasks=[task_view(t, case.number, case.title) for t in (open_tasks or [])],
    )

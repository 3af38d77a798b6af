"""One case, read for its pages: the case page, the task page, the diagram, history, gate decisions.

Each function is one read transaction with the visibility rule of services/visibility.py:
a case the actor may not see is NotFound, exactly like one that does not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import runtime
from iphs_flow.store.tables import HumanTask

from ..case_sync import case_view
from ..errors import NotFound
from ..permissions import Actor, may_work_on
from ..processes import model_for
from ..read_log import record_read
from ..views import CaseDetail, CaseView, EventView, TaskView
from ..visibility import require_visible, visible_case, visible_task
from .tasks import task_view


@dataclass(frozen=True)
class TaskPage:
    task: TaskView
    case: CaseView
    form: dict[str, Any] | None
    case_data: dict[str, Any]
    may_work: bool
    closed_by: str | None
    closed_at: datetime | None


def task_page(ctx: AppContext, task_id: int, actor: Actor) -> TaskPage:
    """A task with its form and the case data it shows, for those who may see the case.

    Closed tasks are returned too (not 404): the page then says who completed it, so a
    late submission can explain itself instead of failing blindly.
    """
    with ctx.uow.read() as tx:
        row, case = visible_task(tx, task_id, actor)
        form = case.process_version.forms.get(row.form_key) if row.form_key else None
        data: dict[str, Any] = {}
        if row.state == "open" and case.state != "{}":
            model = model_for(ctx, case.process_version)
            data = runtime.inspect(model, json.loads(case.state)).data
        may_work = row.state == "open" and may_work_on(actor, row.assignee, row.candidate_group)
        return TaskPage(task=task_view(row, case.number, case.title),
                        case=case_view(case, list(tx.tasks.open_for_case(case.id))), form=form, case_data=data,
                        may_work=may_work, closed_by=row.closed_by, closed_at=row.closed_at)


@dataclass(frozen=True)
class CompletedStep:
    at: datetime
    actor: str
    name: str
    form_key: str | None
    stage: int | None
    data: dict[str, Any]


@dataclass(frozen=True)
class CaseOverview:
    """What the case page shows: the case and its history, each completed step's data and the forms."""

    detail: CaseDetail
    completed: list[CompletedStep]
    forms: dict[str, Any]


def case_page(ctx: AppContext, case_id: int, actor: Actor) -> CaseOverview:
    """The case with history, and each completed task's data with the form that asked for it.

    One transaction, and the workflow state is not loaded: everything shown comes from the
    case row, the inbox index and the history.
    """
    with ctx.uow.read() as tx:
        case = tx.cases.get(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        require_visible(tx, actor, case, case_id)
        forms = dict(case.process_version.forms)
        events = list(tx.events.for_case(case.id))
        history = [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name, e.data) for e in events]
        task_ids = [int(e.data.get("task_id") or 0) for e in events if e.kind == "task_completed"]
        rows = {t.id: t for t in tx.session.scalars(select(HumanTask).where(HumanTask.id.in_(task_ids)))} \
            if task_ids else {}
        completed = []
        for event in events:
            if event.kind != "task_completed":
                continue
            row = rows.get(int(event.data.get("task_id") or 0))
            completed.append(CompletedStep(event.at, event.actor, event.task_name or event.task_key or "",
                                           row.form_key if row else None, row.stage if row else None,
                                           dict(event.data.get("data") or {})))
        detail = CaseDetail(case=case_view(case, list(tx.tasks.open_for_case(case.id))), data={}, history=history)
    record_read(ctx, case_id, actor, "case")
    return CaseOverview(detail, completed, forms)


FLOW_NODES = ("userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "task", "callActivity",
              "subProcess", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
              "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class DiagramStep:
    bpmn_id: str
    name: str
    kind: str
    state: str  # done | open | failed | todo
    at: datetime | None = None  # when it was done, opened or failed
    actor: str | None = None  # who completed it, or who has it now
    group: str | None = None  # the group an unclaimed open task waits for


@dataclass(frozen=True)
class Diagram:
    xml: str
    open_ids: list[str]
    done_ids: list[str]
    steps: list[DiagramStep]
    failed_ids: list[str] = field(default_factory=list)
    incident: str | None = None


_STEPS: dict[tuple[int, str], tuple[str, list[tuple[str, str, str]]]] = {}


def _process_steps(version_id: int, process_key: str, files: dict[str, str]) -> tuple[str, list[tuple[str, str, str]]]:
    """(BPMN XML, [(id, name, kind)]) of a process version; parsed once per version (versions never change)."""
    key = (version_id, process_key)
    if key in _STEPS:
        return _STEPS[key]
    found: tuple[str, list[tuple[str, str, str]]] = ("", [])
    for name, content in sorted(files.items()):
        if not name.endswith(".bpmn"):
            continue
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(content.encode(), parser)
        process = root.find(f"{{{BPMN_NS}}}process[@id='{process_key}']")
        if process is None:
            continue
        steps = []
        for element in process.iter():
            if not isinstance(element.tag, str):
                continue
            kind = etree.QName(element).localname
            if kind in FLOW_NODES and element.get("name"):
                steps.append((element.get("id", ""), element.get("name", ""), kind))
        found = (content, steps)
        break
    if len(_STEPS) > 256:
        _STEPS.clear()
    _STEPS[key] = found
    return found


DONE_EVENTS = ("task_completed", "step", "timer_fired")  # history kinds that mean "this element ran"


def diagram(ctx: AppContext, case_id: int, actor: Actor) -> Diagram:
    """The BPMN of the case's version, with where the case stands, and the same as a list of steps.

    The list is the text alternative to the picture: every named step of the process in
    document order, marked done, open (waiting now), failed (the step an incident stopped
    at) or not reached, with when it happened and who did it, read from the history.
    """
    with ctx.uow.read() as tx:
        case = tx.cases.get(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        require_visible(tx, actor, case, case_id)
        open_rows = {row.task_key: (row.created_at, row.assignee, row.candidate_group)
                     for row in tx.tasks.open_for_case(case.id)}
        open_ids = sorted(open_rows)
        done: dict[str, tuple[datetime, str]] = {}
        opened: dict[str, datetime] = {}
        last_outcome: dict[str, tuple[str, datetime]] = {}
        for e in tx.events.for_case(case.id):
            if not e.task_key:
                continue
            if e.kind in DONE_EVENTS:
                done[e.task_key] = (e.at, e.actor)
                last_outcome[e.task_key] = ("done", e.at)
            elif e.kind == "step_failed":
                last_outcome[e.task_key] = ("failed", e.at)
            elif e.kind == "task_opened":
                opened[e.task_key] = e.at
        failed = {key: at for key, (outcome, at) in last_outcome.items() if outcome == "failed"} \
            if case.status == "incident" else {}
        incident = case.incident if case.status == "incident" else None
        xml, nodes = _process_steps(case.process_version_id, case.process_key, dict(case.process_version.files))
    steps = []
    for bpmn_id, name, kind in nodes:
        if bpmn_id in failed:
            steps.append(DiagramStep(bpmn_id, name, kind, "failed", failed[bpmn_id]))
        elif bpmn_id in open_rows:
            created_at, assignee, group = open_rows[bpmn_id]
            steps.append(DiagramStep(bpmn_id, name, kind, "open", opened.get(bpmn_id, created_at),
                                     assignee, None if assignee else group))
        elif bpmn_id in done:
            at, who = done[bpmn_id]
            steps.append(DiagramStep(bpmn_id, name, kind, "done", at, who))
        else:
            steps.append(DiagramStep(bpmn_id, name, kind, "todo"))
    return Diagram(xml, open_ids, sorted(set(done) - set(open_ids) - set(failed)), steps,
                   sorted(failed), incident)


def case_history(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[EventView]:
    """The case's history, oldest first, without loading its workflow state."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        case_id = case.id
        history = [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name, e.data)
                   for e in tx.events.for_case(case.id)]
    record_read(ctx, case_id, actor, "history")
    return history


@dataclass(frozen=True)
class GateDecision:
    task_id: int | None
    task_key: str | None
    task_name: str | None
    stage: int | None
    outcome: str
    reason: str | None
    decided_by: str
    decided_at: datetime
    data: dict[str, Any]


def _outcome(data: dict[str, Any]) -> str | None:
    """A gate form records its outcome as `decision` (the shipped gates) or as a yes/no `approved`."""
    decision = data.get("decision")
    if isinstance(decision, str) and decision:
        return decision
    approved = data.get("approved")
    if isinstance(approved, bool):
        return "approved" if approved else "rejected"
    return None


def gate_decisions(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[GateDecision]:
    """Every gate decision of a case, oldest first, read from its history.

    A decision is a completed task whose submitted data carries an outcome; completing the
    task records a `task_completed` event with the task id and the submitted data, which
    is the audit record this reads (the task row adds the stage).
    """
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        found = []
        for event in tx.events.for_case(case.id):
            if event.kind != "task_completed":
                continue
            submitted = event.data.get("data") if isinstance(event.data.get("data"), dict) else {}
            outcome = _outcome(submitted)
            if outcome is None:
                continue
            task_id = event.data.get("task_id")
            found.append((event, submitted, outcome, task_id if isinstance(task_id, int) else None))
        ids = [t for *_, t in found if t is not None]
        stages = dict(tx.session.execute(select(HumanTask.id, HumanTask.stage).where(HumanTask.id.in_(ids))).all()) \
            if ids else {}
        decisions = []
        for event, submitted, outcome, task_id in found:
            reason = submitted.get("reason") or submitted.get("comment")
            decisions.append(GateDecision(
                task_id=task_id, task_key=event.task_key, task_name=event.task_name,
                stage=stages.get(task_id) if task_id is not None else None, outcome=outcome,
                reason=reason if isinstance(reason, str) and reason.strip() else None,
                decided_by=event.actor, decided_at=event.at, data=dict(submitted)))
        return decisions

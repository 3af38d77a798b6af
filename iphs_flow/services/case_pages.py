"""What the case and task pages show, read in one transaction each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now

from .case_sync import case_view, engine_ref, task_view
from .cases import _require_visible, visible_task
from .errors import Forbidden, NotFound
from .permissions import Actor, may_work_on
from .views import CaseDetail, CaseView, EventView, TaskView


@dataclass(frozen=True)
class TaskPage:
    task: TaskView
    case: CaseView
    form: dict[str, Any] | None
    case_data: dict[str, Any]
    may_work: bool
    closed_by: str | None
    closed_at: datetime | None
    documentation: str | None = None  # the model's description of the task, shown to the user


def task_page(ctx: AppContext, task_id: int, actor: Actor) -> TaskPage:
    """A task with its form and the case data it shows, for those who may see the case.

    Closed tasks are returned too (not 404): the page then says who completed it, so a
    late submission can explain itself instead of failing blindly.
    """
    with ctx.uow.read() as tx:
        row, case = visible_task(tx, task_id, actor)
        form = case.process_version.forms.get(row.form_key) if row.form_key else None
        data: dict[str, Any] = {}
        documentation = None
        if row.state == "open" and case.state != "{}":
            described = ctx.engine.inspect(engine_ref(case.process_version), json.loads(case.state))
            data = described.data
            documentation = next((t.documentation for t in described.open_tasks if t.id == row.spiff_task_id), None)
        return TaskPage(task=task_view(row, case), case=case_view(case, list(tx.tasks.open_for_case(case.id))),
                        form=form, case_data=data, may_work=row.state == "open" and may_work_on(
                            actor, row.assignee, row.candidate_group),
                        closed_by=row.closed_by, closed_at=row.closed_at, documentation=documentation)


def start_forms(ctx: AppContext, process_key: str) -> dict[str, Any]:
    """The forms of the newest version of a process (to show what starting it asks for)."""
    with ctx.uow.read() as tx:
        version = tx.processes.latest(process_key)
        if version is None:
            raise NotFound(f"no process '{process_key}' is deployed")
        return dict(version.forms)


@dataclass(frozen=True)
class CompletedStep:
    at: datetime
    actor: str
    name: str
    form_key: str | None
    stage: int | None
    data: dict[str, Any]


@dataclass(frozen=True)
class CasePage:
    detail: CaseDetail
    completed: list[CompletedStep]
    forms: dict[str, Any]


def case_page(ctx: AppContext, case_id: int, actor: Actor) -> CasePage:
    """The case with history, and each completed task's data with the form that asked for it.

    One transaction, and the workflow state is not loaded: everything shown comes from the
    case row, the inbox index and the history.
    """
    from sqlalchemy import select

    from iphs_flow.store.tables import HumanTask

    with ctx.uow.read() as tx:
        case = tx.cases.get(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        _require_visible(tx, actor, case, case_id)
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
    return CasePage(detail, completed, forms)


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
    from lxml import etree

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
        _require_visible(tx, actor, case, case_id)
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
    from sqlalchemy import func, or_, select

    from iphs_flow.store.tables import Case, HumanTask

    mine = HumanTask.assignee == actor.username
    groups = sorted(actor.groups)
    unclaimed = HumanTask.assignee.is_(None) & HumanTask.candidate_group.in_(groups) if groups else None
    if show == "mine":
        who = mine
    elif show == "group":
        who = unclaimed if unclaimed is not None else HumanTask.id.is_(None)
    else:
        who = or_(mine, unclaimed) if unclaimed is not None else mine
    query = (select(HumanTask, Case.number, Case.title).join(Case, Case.id == HumanTask.case_id)
             .where(HumanTask.state == "open", who))
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
        tasks = [TaskView(id=t.id, case_id=t.case_id, case_number=number, case_title=title, name=t.name,
                          task_key=t.task_key, lane=t.lane, candidate_group=t.candidate_group, assignee=t.assignee,
                          form_key=t.form_key, stage=t.stage, due_at=t.due_at, state=t.state,
                          created_at=t.created_at) for t, number, title in rows]
    return InboxPage(tasks, total, offset, limit)


@dataclass(frozen=True)
class CaseRow:
    id: int
    number: str
    title: str
    status: str
    stage: int | None
    owner: str
    updated_at: datetime
    waiting: list[TaskView]


def case_rows(ctx: AppContext, actor: Actor, *, owner: str | None = None, limit: int = 200,
              offset: int = 0) -> tuple[list[CaseRow], int]:
    """Cases as table rows (with what each waits for), without loading workflow state.

    Everyone sees their own cases; innovation leads and administrators may list all.
    """
    from sqlalchemy import func, select

    from iphs_flow.store.tables import Case, HumanTask

    if not actor.sees_all_cases:
        owner = actor.username
    query = select(Case.id, Case.number, Case.title, Case.status, Case.stage, Case.owner, Case.updated_at)
    if owner is not None:
        query = query.where(Case.owner == owner)
    with ctx.uow.read() as tx:
        total = tx.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = tx.session.execute(query.order_by(Case.id.desc()).limit(max(1, min(limit, 1000)))
                                  .offset(max(0, offset))).all()
        waiting: dict[int, list[TaskView]] = {r.id: [] for r in rows}
        if rows:
            tasks = tx.session.scalars(select(HumanTask).where(HumanTask.state == "open",
                                                               HumanTask.case_id.in_(list(waiting)))
                                       .order_by(HumanTask.id)).all()
            by_id = {r.id: r for r in rows}
            for t in tasks:
                r = by_id[t.case_id]
                waiting[t.case_id].append(TaskView(
                    id=t.id, case_id=t.case_id, case_number=r.number, case_title=r.title, name=t.name,
                    task_key=t.task_key, lane=t.lane, candidate_group=t.candidate_group, assignee=t.assignee,
                    form_key=t.form_key, stage=t.stage, due_at=t.due_at, state=t.state, created_at=t.created_at))
        out = [CaseRow(r.id, r.number, r.title, r.status, r.stage, r.owner, r.updated_at, waiting[r.id])
               for r in rows]
    return out, total


def overdue_tasks(ctx: AppContext, actor: Actor, limit: int = 200) -> list[TaskView]:
    """Open tasks past their due date, most overdue first (innovation leads and administrators)."""
    from sqlalchemy import select

    from iphs_flow.store.tables import Case, HumanTask

    if not actor.sees_all_cases:
        raise Forbidden("only innovation leads and administrators see every task")
    with ctx.uow.read() as tx:
        rows = tx.session.execute(
            select(HumanTask, Case.number, Case.title).join(Case, Case.id == HumanTask.case_id)
            .where(HumanTask.state == "open", HumanTask.due_at < now())
            .order_by(HumanTask.due_at, HumanTask.id).limit(limit)).all()
        return [TaskView(id=t.id, case_id=t.case_id, case_number=n, case_title=title, name=t.name,
                         task_key=t.task_key, lane=t.lane, candidate_group=t.candidate_group, assignee=t.assignee,
                         form_key=t.form_key, stage=t.stage, due_at=t.due_at, state=t.state, created_at=t.created_at)
                for t, n, title in rows]


def stage_counts(ctx: AppContext, actor: Actor) -> dict[int | None, int]:
    """Running cases per stage, counted in the database."""
    if not actor.sees_all_cases:
        raise Forbidden("only innovation leads and administrators see all cases")
    counts: dict[int | None, int] = {}
    for status, stage, n in [row for row in _counts(ctx)]:
        if status == "running":
            counts[stage] = counts.get(stage, 0) + n
    return counts


def _counts(ctx: AppContext) -> list[tuple[str, int | None, int]]:
    with ctx.uow.read() as tx:
        return list(tx.cases.counts())

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

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import runtime
from iphs_flow.engine.vocabulary import StatusWords

from ..case_sync import case_view, engine_ref
from ..errors import NotFound
from ..permissions import Actor, may_work_on
from ..processes import model_for
from ..read_log import record_read
from ..registration import NOTHING_WITHHELD, Withheld, withheld_from
from ..views import CaseDetail, CaseView, EventView, TaskView
from ..visibility import require_visible, visible_case, visible_task
from .records import CaseRecords, records_in, redacted_records, status_words
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
    prefill: dict[str, Any] = field(default_factory=dict)  # repeated fields from an earlier stage
    documentation: str | None = None  # the model's description of the task, shown to the user
    withheld: Withheld = NOTHING_WITHHELD  # secret-marked fields left out for this person (OSL)


def prefill_from_records(form: dict[str, Any] | None, records: CaseRecords) -> dict[str, Any]:
    """Values for fields whose UI schema says `"ui:prefill": "<earlier field>"`: the newest earlier answer,
    with each row cut to the parts this form asks for (the pilot's indicators from the concept's benefits)."""
    if not form:
        return {}
    properties = (form.get("schema") or {}).get("properties") or {}
    out: dict[str, Any] = {}
    for name, ui in (form.get("ui") or {}).items():
        source = ui.get("ui:prefill") if isinstance(ui, dict) else None
        if not isinstance(source, str) or name not in properties:
            continue
        found = next((r.data[source] for r in reversed(records.stages) if r.data.get(source)), None)
        if found is None:
            continue
        item = properties[name].get("items") or {}
        keep = set((item.get("properties") or {}).keys())
        if isinstance(found, list) and keep:
            out[name] = [{k: v for k, v in row.items() if k in keep} for row in found if isinstance(row, dict)]
        elif properties[name].get("type") != "array" or isinstance(found, list):
            out[name] = found
    return out


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
            state = json.loads(case.state)
            described = ctx.engine.inspect(engine_ref(case.process_version), state)
            documentation = next((t.documentation for t in described.open_tasks if t.id == row.spiff_task_id), None)
            own = runtime.task_data(model_for(ctx, case.process_version), state, row.spiff_task_id)
            data = own if own is not None else described.data  # a condition task shows its own condition
        withheld = withheld_from(tx, actor, case)
        data = withheld.redact(data)
        prefill = prefill_from_records(form, redacted_records(records_in(tx.session, case.id), withheld)) \
            if row.state == "open" else {}
        may_work = row.state == "open" and may_work_on(actor, row.assignee, row.candidate_group)
        return TaskPage(task=task_view(row, case.number, case.title),
                        case=case_view(case, list(tx.tasks.open_for_case(case.id))), form=form, case_data=data,
                        may_work=may_work, closed_by=row.closed_by, closed_at=row.closed_at, prefill=prefill,
                        documentation=documentation, withheld=withheld)


@dataclass(frozen=True)
class CaseOverview:
    """What the case page shows: the case and its history, its stage records and gate decisions, the forms."""

    detail: CaseDetail
    records: CaseRecords
    forms: dict[str, Any]
    status: StatusWords
    withheld: Withheld = NOTHING_WITHHELD  # secret-marked fields left out for this person (OSL)


def case_page(ctx: AppContext, case_id: int, actor: Actor) -> CaseOverview:
    """The case with history, and its stage records and gate decisions with the forms that asked for them.

    One transaction, and the workflow state is not loaded: everything shown comes from the
    case row, the inbox index, the records and the history.
    """
    with ctx.uow.read() as tx:
        case = tx.cases.get(case_id)
        if case is None:
            raise NotFound(f"there is no case {case_id}")
        require_visible(tx, actor, case, case_id)
        forms = dict(case.process_version.forms)
        withheld = withheld_from(tx, actor, case)
        history = [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name,
                             withheld.redact_event(e.kind, e.data, e.actor))
                   for e in tx.events.for_case(case.id)]
        records = redacted_records(records_in(tx.session, case.id), withheld)
        detail = CaseDetail(case=case_view(case, list(tx.tasks.open_for_case(case.id))), data={}, history=history)
        words = status_words(case.status, records.last_decision, detail.case.open_tasks)
    record_read(ctx, case_id, actor, "case")
    return CaseOverview(detail, records, forms, words, withheld)


FLOW_NODES = ("userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "task", "callActivity",
              "subProcess", "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
              "boundaryEvent", "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
PEOPLE_STEPS = ("userTask", "manualTask")  # the steps in which people do something


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
        withheld = withheld_from(tx, actor, case)
        history = [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name,
                             withheld.redact_event(e.kind, e.data, e.actor))
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


def gate_decisions(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[GateDecision]:
    """Every gate decision of a case, oldest first, from its gate decision records (every round kept).

    Decisions the process took itself (no reply in 30 days puts the case on hold) are
    there too, decided by `system`.
    """
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        records = redacted_records(records_in(tx.session, case.id), withheld_from(tx, actor, case))
        return [GateDecision(task_id=d.task_id, task_key=d.gate, task_name=d.gate_name, stage=d.stage,
                             outcome=d.outcome, reason=d.reason, decided_by=d.decider, decided_at=d.at,
                             data=dict(d.data))
                for d in records.decisions]

"""Run a case: start it, complete a human task, fire its timers, retry an incident.

Each operation is a pure function of (model, stored state, input) returning a
`StepResult`: the new state plus what the host must do with it (index the open tasks,
record the history, send notifications, remember the next timer). The engine keeps the
state bounded by pruning completed history above the live part of the task tree,
after reporting it in `StepResult.finished` for the case history.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException, WorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from . import calendar, clock, event_scopes, sandbox
from .errors import ScriptError, TaskNotReady
from .models import ProcessModel

clock.install_into_spiffworkflow()

STATE_FORMAT = 1
_TIMER_TYPES = ("TimeDateEventDefinition", "DurationTimerEventDefinition", "CycleTimerEventDefinition")
_INTERNAL_SPECS = ("Root", "Start", "End")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class OpenTask:
    """A human task waiting for someone."""

    id: str
    bpmn_id: str
    name: str
    process_id: str
    lane: str | None
    form_key: str | None
    due_at: datetime | None
    stage: int | None
    candidate_group: str | None
    documentation: str | None
    assignee: str | None = None


@dataclass(frozen=True)
class FinishedStep:
    """A BPMN element that finished during this step, for the case history."""

    id: str
    bpmn_id: str
    name: str
    kind: str
    outcome: str  # completed | cancelled | error
    manual: bool
    timer: bool = False


@dataclass(frozen=True)
class Notification:
    """A `notify` service task asked the host to tell someone something."""

    template: str
    to: str
    about_task: str | None
    params: dict[str, Any]
    source: str
    source_task_id: str


State = dict[str, Any] | str  # a stored workflow state: its JSON text as the case row holds it, or the dict of it


@dataclass
class StepResult:
    # The workflow state: a dict of it from a step run here; its JSON text (as stored) in a worker's
    # answer, since a string crosses the pipe as one copy where a nested dict is pickled and
    # unpickled piece by piece; or what the caller gave, when the step could not run.
    state: State
    status: str  # running | completed | incident
    open_tasks: list[OpenTask]
    finished: list[FinishedStep]
    notifications: list[Notification]
    next_timer_at: datetime | None
    incident: str | None
    data: dict[str, Any]
    stage: int | None
    tasks_in_state: int = 0
    pruned: int = 0
    completed_data: dict[str, Any] = field(default_factory=dict)
    unchanged: bool = False  # the step did not run (killed, refused by the engine): only the incident is new
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (message | signal, name) the case waits for
    thrown: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # sent to other cases
    # The JSON text the step wrote `state` from (state_json gives it, not a second dump); None when
    # unknown. The state is the step's answer: it is not changed in place.
    state_text: str | None = field(default=None, repr=False, compare=False)

    def state_json(self) -> str:
        if isinstance(self.state, str):
            return self.state
        if self.state_text is not None:
            return self.state_text
        return json.dumps(self.state, separators=(",", ":"), ensure_ascii=False)

    def as_text(self) -> StepResult:
        """This result with its state as JSON text (a worker's answer: see `state`)."""
        self.state, self.state_text = self.state_json(), None
        return self


# ---------------------------------------------------------------- script engine


class CaseScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine: sandboxed code, and `notify` as an effect, not I/O."""

    def __init__(self, time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> None:
        super().__init__(environment=sandbox.SandboxedEnvironment(time_limit))
        self.notifications: list[Notification] = []

    def call_service(self, task: Any, **kwargs: Any) -> str:  # type: ignore[override]
        name = kwargs.get("operation_name")
        params = {k: v["value"] for k, v in (kwargs.get("operation_params") or {}).items()}
        if name != "notify":
            raise ScriptError(f"unknown service operator '{name}'")
        template, to = params.pop("template", None), params.pop("to", None)
        if not template or not to:
            raise ScriptError("notify needs the parameters 'template' and 'to'")
        about = params.pop("task", None)
        self.notifications.append(Notification(
            template=str(template), to=str(to), about_task=str(about) if about else None,
            params=sandbox.to_storable(params), source=task.task_spec.bpmn_id or task.task_spec.name,
            source_task_id=str(task.id),
        ))
        return json.dumps({"sent": True})


# ---------------------------------------------------------------- serialization


_specs: ContextVar[tuple[Any, dict[str, Any]]] = ContextVar("iphs_specs")
_running: ContextVar[str | None] = ContextVar("iphs_running", default=None)  # the element now running


class _SpecSharingConverter(BpmnWorkflowConverter):
    """Store a case without its process spec; restore it onto the cached parsed spec.

    The spec is the same for every case on a process version and is already stored once
    in `process_version`; repeating it in every case would multiply the state size.
    """

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        spec, subprocess_specs = _specs.get()
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpecSharingConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_SERIALIZER = _make_serializer()


def _dump(workflow: BpmnWorkflow) -> tuple[dict[str, Any], str]:
    """The workflow's state, and the JSON text of it the case row stores: the text is written once
    (UUIDs, tuples ... as JSON makes them) and the dict read back from it holds only JSON types."""
    state = _SERIALIZER.to_dict(workflow)
    state["iphs_format"] = STATE_FORMAT
    text = json.dumps(state, default=str, separators=(",", ":"), ensure_ascii=False)
    return json.loads(text), text


def _load(model: ProcessModel, state: State, engine: CaseScriptEngine) -> BpmnWorkflow:
    """The workflow of a stored `state`: its JSON text (as the case row holds it, read once here)
    or the dict of it (copied: the caller's is never mutated)."""
    state = json.loads(state if isinstance(state, str) else json.dumps(state))
    state.pop("iphs_format", None)
    token = _specs.set((model.spec, model.subprocess_specs))
    try:
        workflow = _SERIALIZER.from_dict(state)
    finally:
        _specs.reset(token)
    workflow.script_engine = engine
    return event_scopes.install(workflow)


# ---------------------------------------------------------------- the tree


def _all_workflows(workflow: BpmnWorkflow) -> list[Any]:
    return [workflow, *workflow.subprocesses.values()]


def _task_states(workflow: BpmnWorkflow) -> dict[UUID, int]:
    return {tid: task.state for wf in _all_workflows(workflow) for tid, task in wf.tasks.items()}


def _is_live(task: Any) -> bool:
    return task.state in (TaskState.READY, TaskState.STARTED, TaskState.WAITING, TaskState.ERROR)


def _prune_workflow(wf: Any) -> int:
    """Drop completed history above the deepest common ancestor of all live tasks.

    Future tasks only descend from live ones, so nothing above that ancestor can be
    needed again; the parent of the ancestor is kept as the new root so the root is
    always a finished task, as SpiffWorkflow expects.
    """
    live = [t for t in wf.tasks.values() if _is_live(t)]
    if not live:
        return 0
    paths = []
    for task in live:
        path = []
        node = task
        while node is not None:
            path.append(node.id)
            node = node.parent
        paths.append(path[::-1])
    common = []
    for ids in zip(*paths, strict=False):
        if all(i == ids[0] for i in ids):
            common.append(ids[0])
        else:
            break
    if len(common) < 3:
        return 0
    new_root = wf.tasks[common[-2]]
    keep: set[UUID] = set()
    stack = [new_root]
    while stack:
        node = stack.pop()
        keep.add(node.id)
        stack.extend(node.children)
    removed = [tid for tid in wf.tasks if tid not in keep]
    for tid in removed:
        del wf.tasks[tid]
    new_root._parent = None
    wf.task_tree = new_root
    if wf.last_task is not None and wf.last_task.id not in keep:
        wf.last_task = None
    return len(removed)


def _prune(workflow: BpmnWorkflow) -> int:
    removed = _prune_workflow(workflow)
    for sub in list(workflow.subprocesses.values()):
        if sub.completed:
            continue
        removed += _prune_workflow(sub)
    # Subprocesses whose calling task is gone (completed long ago) go too, and with them
    # the subprocesses they called. The calling task is looked up by id in every
    # workflow's own task table: `sub.parent_workflow` would raise once it was pruned.
    changed = True
    while changed:
        changed = False
        known: set[UUID] = set(workflow.tasks)
        for sub in workflow.subprocesses.values():
            known.update(sub.tasks)
        for task_id in list(workflow.subprocesses):
            if task_id not in known:
                removed += len(workflow.subprocesses[task_id].tasks)
                del workflow.subprocesses[task_id]
                changed = True
    return removed


# ---------------------------------------------------------------- describing a case


def _due_at(task: Any, model: ProcessModel) -> tuple[datetime | None, str | None, str | None]:
    """Evaluate dueDate, candidateGroup and assignee once, when the task opens, and keep them."""
    info = model.user_tasks.get(task.task_spec.bpmn_id)
    if info is None:
        return None, None, None
    if "iphs_due" not in task.internal_data:
        evaluate = task.workflow.script_engine.evaluate
        due = None
        if info.due_expression:
            value = evaluate(task, info.due_expression)
            due = calendar.iso_utc(calendar.to_datetime(value)) if value else None
        group = None
        if info.candidate_group_expression:
            value = evaluate(task, info.candidate_group_expression)
            group = str(value) if value else None
        assignee = None
        if info.assignee_expression:
            value = evaluate(task, info.assignee_expression)
            assignee = str(value) if value else None
        task._set_internal_data(iphs_due=due, iphs_group=group, iphs_assignee=assignee)
    due = task.internal_data.get("iphs_due")
    return ((datetime.fromisoformat(due) if due else None), task.internal_data.get("iphs_group"),
            task.internal_data.get("iphs_assignee"))


def _open_tasks(workflow: BpmnWorkflow, model: ProcessModel) -> list[OpenTask]:
    result = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        spec = task.task_spec
        info = model.user_tasks.get(spec.bpmn_id)
        due, group, assignee = _due_at(task, model)
        result.append(OpenTask(
            id=str(task.id), bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
            process_id=info.process_id if info else task.workflow.spec.name,
            lane=spec.lane, form_key=info.form_key if info else None, due_at=due,
            stage=info.stage if info else None, candidate_group=group,
            documentation=info.documentation if info else None, assignee=assignee,
        ))
    return result


def _timer_due(value: Any) -> datetime | None:
    if isinstance(value, dict):
        value = value.get("next")
    if not value:
        return None
    try:
        return TimerEventDefinition.get_datetime(str(value))
    except ValueError:
        try:
            parsed = TimerEventDefinition.parse_time_or_duration(str(value))
        except (ValueError, TypeError):
            return None
        return parsed if isinstance(parsed, datetime) else None


def _next_timer(workflow: BpmnWorkflow) -> datetime | None:
    """The earliest timer the case waits for, including timers behind an event-based gateway."""
    due = []
    for event in workflow.waiting_events():
        if event.event_type in _TIMER_TYPES:
            moment = _timer_due(event.value)
            if moment is not None:
                due.append(moment)
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if type(definition).__name__ != "MultipleEventDefinition":
            continue  # single timers are reported by waiting_events() above
        if any(isinstance(d, TimerEventDefinition) for d in definition.event_definitions):
            if task.internal_data.get("event_value") is None:
                definition.has_fired(task)  # evaluates the timer expression once and keeps it
            moment = _timer_due(task.internal_data.get("event_value"))
            if moment is not None:
                due.append(moment)
    return min(due) if due else None


def _current_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    if workflow.completed:
        return dict(workflow.data)
    for wf in _all_workflows(workflow):
        for task in wf.tasks.values():
            # Internal specs (Root, Start, End, a process's EndJoin) carry no BPMN id and no data.
            if task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED, TaskState.ERROR) \
                    and task.task_spec.name not in _INTERNAL_SPECS and task.task_spec.bpmn_id is not None:
                return dict(task.data)
    return dict(workflow.last_task.data) if workflow.last_task is not None else {}


def _finished_since(workflow: BpmnWorkflow, before: dict[UUID, int]) -> list[FinishedStep]:
    outcomes = {TaskState.COMPLETED: "completed", TaskState.CANCELLED: "cancelled",
                TaskState.ERROR: "error"}
    steps = []
    for wf in _all_workflows(workflow):
        for tid, task in wf.tasks.items():
            outcome = outcomes.get(task.state)
            spec = task.task_spec
            if outcome is None or before.get(tid) == task.state or spec.bpmn_id is None:
                continue
            if outcome == "cancelled" and before.get(tid) is None:
                continue  # predicted and dropped in the same step: it never happened
            if outcome == "cancelled" and before.get(tid) not in (TaskState.READY, TaskState.WAITING,
                                                                 TaskState.STARTED):
                continue
            steps.append(FinishedStep(
                id=str(tid), bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id,
                kind=type(spec).__name__, outcome=outcome, manual=bool(spec.manual),
                timer=isinstance(getattr(spec, "event_definition", None), TimerEventDefinition),
            ))
    return steps


def _error_message(err: BaseException) -> str:
    """The message of the failure and of what caused it (SpiffWorkflow wraps the real error)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen and len(parts) < 4:
        seen.add(id(current))
        text = str(current) or type(current).__name__
        if text.startswith("No conditions satisfied"):  # SpiffWorkflow words it two ways
            text = "no outgoing flow's condition matches at the gateway, and it has no default flow"
        if isinstance(current, MemoryError):
            text = "it needed more memory than the step's limit allows"
        elif isinstance(current, SystemExit):
            text = "the script tried to stop the engine (SystemExit)"
        if not any(text in part for part in parts):
            parts.append(text)
        current = current.__cause__ or current.__context__
    task = getattr(err, "task", None)
    where = ""
    if task is not None:
        where = f" in '{task.task_spec.bpmn_name or task.task_spec.bpmn_id}' ({task.task_spec.bpmn_id})"
    elif _running.get():
        where = f" in {_running.get()}"
    message = " — ".join(parts) + where
    notes = [str(n) for n in getattr(err, "__notes__", None) or [] if str(n) not in message]
    if notes:
        message += " — " + "; ".join(notes)
    return message[:2000]


MAX_SETTLE_ROUNDS = 100

# The worker process sets this to learn which element runs now: if the step has to be
# killed (CPU, memory or wall-clock limit) the incident can name the element.
_progress: ContextVar[Callable[[Any], None] | None] = ContextVar("iphs_progress", default=None)


def report_progress_to(hook: Callable[[Any], None] | None) -> None:
    """Call `hook(task)` before every engine task runs (None to stop)."""
    _progress.set(hook)


def _will_run(task: Any) -> None:
    _running.set(element_label(task))
    event_scopes.running(task)
    hook = _progress.get()
    if hook is not None:
        hook(task)


def element_label(task: Any) -> str:
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None) or bpmn_id
    return f"'{name}' ({bpmn_id})"


def _has_begun(sub: Any) -> bool:
    """The event subprocess's start event has happened (not merely waits for its timer or message)."""
    starts = {s.name for s in getattr(sub.spec, "bpmn_start_events", None) or []}
    return any(t.task_spec.name in starts and t.state == TaskState.COMPLETED for t in sub.tasks.values()) \
        or not any(t.task_spec.name in starts for t in sub.tasks.values())


def _begun(workflow: BpmnWorkflow) -> set[UUID]:
    """The subprocesses whose start event has already happened (their interruption is done)."""
    return {task_id for task_id, sub in workflow.subprocesses.items() if _has_begun(sub)}


def _interrupt(workflow: BpmnWorkflow, model: ProcessModel, known: set[UUID]) -> bool:
    """An interrupting event subprocess that just started cancels the rest of its scope."""
    interrupted = False
    for task_id, sub in list(workflow.subprocesses.items()):
        if task_id in known or sub.spec.name not in model.interrupting:
            continue
        if not _has_begun(sub):
            continue  # waiting at its start event (a timer not yet due): the scope goes on
        known.add(task_id)
        caller = workflow.get_task_from_id(task_id)
        keep = set()
        node = caller
        while node is not None:
            keep.add(node.id)
            node = node.parent
        for task in list(caller.workflow.tasks.values()):
            if task.id not in keep and task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED) \
                    and task.task_spec.name not in _INTERNAL_SPECS:
                task.cancel()
                interrupted = True
    return interrupted


def _close_interrupted_scopes(workflow: BpmnWorkflow, model: ProcessModel) -> None:
    """An embedded subprocess whose interrupting event subprocess has finished is finished too.

    The event subprocess cancelled the rest of its scope (`_interrupt`); SpiffWorkflow would
    wait for the scope's End forever. The scope ends with the event subprocess's data and its
    calling task goes on, exactly as if the subprocess had reached its end event.
    """
    for sub in list(workflow.subprocesses.values()):
        if sub.completed or sub is workflow:
            continue
        tasks = list(sub.tasks.values())
        if any(t.has_state(TaskState.NOT_FINISHED_MASK) for t in tasks):
            continue
        handlers = [t for t in tasks if t.state == TaskState.COMPLETED and t.task_spec.name in model.interrupting]
        if not handlers:
            continue
        sub._mark_complete(handlers[-1])
        sub.completed_event(sub)


def _end_idle_scopes(workflow: BpmnWorkflow, model: ProcessModel) -> None:
    """A scope whose own flow has ended ends, and its event subprocesses that never began go with it.

    An event subprocess that starts with a timer waits beside its scope from the start; BPMN
    ends the scope when its flow is done, but SpiffWorkflow's end join would wait for the
    timer forever. Here an event subprocess still waiting at its start event is cancelled
    once everything else in the scope has finished, and the scope's end is tried again.
    """
    top = workflow
    for scope in [top, *top.subprocesses.values()]:
        if scope.completed:
            continue
        unfinished = [t for t in scope.tasks.values() if t.has_state(TaskState.NOT_FINISHED_MASK)]
        idle, joins = [], []
        for task in unfinished:
            name = task.task_spec.name
            if name == "End" or name.endswith(".EndJoin"):
                joins.append(task)
            elif name in model.event_subprocesses and task.id in top.subprocesses \
                    and not _has_begun(top.subprocesses[task.id]):
                idle.append(task)
            else:
                break
        else:
            if idle and any(t.state == TaskState.WAITING for t in joins):
                for task in idle:
                    task.cancel()
                for task in joins:
                    if task.state == TaskState.WAITING:
                        task.task_spec._update(task)


def _advance(workflow: BpmnWorkflow, model: ProcessModel | None = None,
             known: set[UUID] | None = None) -> str | None:
    """Run engine steps until only human tasks and future timers wait; return an incident.

    One refresh + engine steps fires the timers due now, but the tasks they lead to may
    start timers that are already due too (a hold whose date has passed, a pilot shorter
    than its reminder): repeat until nothing changes. Every failure, whatever its type
    (a model that raises SystemExit too), is an incident: it never escapes as a traceback.
    """
    known = _begun(workflow) if known is None else known
    try:
        for _ in range(MAX_SETTLE_ROUNDS):
            before = _task_states(workflow)
            workflow.refresh_timers()
            if model is not None and model.interrupting:
                _interrupt(workflow, model, known)
            workflow.do_engine_steps(will_complete_task=_will_run)
            if model is not None and model.interrupting:
                _interrupt(workflow, model, known)
                _close_interrupted_scopes(workflow, model)
            if model is not None and model.event_subprocesses:
                _end_idle_scopes(workflow, model)
            if _task_states(workflow) == before:
                break
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any model failure becomes an incident, never a crash
        return _error_message(err)
    if model is not None and model.interrupting and not workflow.completed and not any(
            t.has_state(TaskState.NOT_FINISHED_MASK) for t in workflow.tasks.values()):
        workflow.completed = True  # an interrupting event subprocess ended the process
    return _uncaught_event(workflow)


def _uncaught_event(workflow: BpmnWorkflow) -> str | None:
    """An error or escalation thrown with nobody to catch it is an incident naming its code."""
    for event in workflow.bpmn_events:
        definition = event.event_definition
        kind = type(definition).__name__
        if kind in ("ErrorEventDefinition", "EscalationEventDefinition"):
            code = getattr(definition, "code", None) or getattr(definition, "name", None) or "?"
            what = "error" if kind.startswith("Error") else "escalation"
            return f"the {what} '{code}' was thrown and nothing in the process catches it"
    return None


_CATCHABLE = {"MessageEventDefinition": "message", "SignalEventDefinition": "signal"}


def _definitions(definition: Any) -> list[Any]:
    if type(definition).__name__ == "MultipleEventDefinition":
        return list(definition.event_definitions)
    return [definition]


def _event_subprocess_starts(workflow: BpmnWorkflow) -> list[Any]:
    """Start-event definitions of the running process's event subprocesses (message, signal)."""
    if workflow.completed:
        return []
    found = []
    for name in getattr(workflow.spec.start, "trigger_specs", None) or []:
        spec = workflow.subprocess_specs.get(name)
        for start_spec in getattr(spec, "bpmn_start_events", None) or []:
            found.extend(_definitions(start_spec.event_definition))
    for definition in event_scopes.nested_start_definitions(workflow):
        found.extend(_definitions(definition))
    return found


def _waiting(workflow: BpmnWorkflow) -> list[tuple[str, str]]:
    """The messages and signals the case waits for (for the subscription index)."""
    found: set[tuple[str, str]] = set()
    definitions = [d for task in workflow.event_manager.tasks.values()
                   for d in _definitions(task.task_spec.event_definition)]
    for definition in definitions + _event_subprocess_starts(workflow):
        kind = _CATCHABLE.get(type(definition).__name__)
        if kind and definition.name:
            found.add((kind, definition.name))
    return sorted(found)


def _thrown(workflow: BpmnWorkflow) -> list[tuple[str, str, dict[str, Any]]]:
    """Messages and signals thrown that nothing in this case caught: for other cases."""
    out = []
    for event in workflow.bpmn_events:
        kind = _CATCHABLE.get(type(event.event_definition).__name__)
        if kind:
            payload = event.payload if isinstance(event.payload, dict) else {}
            out.append((kind, event.event_definition.name, sandbox.to_storable(payload)))
    return out


def _result(workflow: BpmnWorkflow, model: ProcessModel, engine: CaseScriptEngine,
            before: dict[UUID, int], incident: str | None,
            completed_data: dict[str, Any] | None = None) -> StepResult:
    finished = _finished_since(workflow, before)
    if incident is None and any(t.state == TaskState.ERROR for wf in _all_workflows(workflow)
                                for t in wf.tasks.values()):
        incident = "a step is in error"
    open_tasks: list[OpenTask] = []
    if incident is None:
        try:
            open_tasks = _open_tasks(workflow, model)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a failing due-date expression is a model error
            incident = _error_message(err)
    pruned = _prune(workflow) if incident is None else 0
    stages = [t.stage for t in open_tasks if t.stage is not None]
    status = "incident" if incident else ("completed" if workflow.completed else "running")
    next_timer = None if incident else _next_timer(workflow)  # before the dump: it may note a timer's value
    state, text = _dump(workflow)
    return StepResult(
        state=state, state_text=text, status=status, open_tasks=open_tasks, finished=finished,
        notifications=list(engine.notifications), next_timer_at=next_timer,
        incident=incident, data=_current_data(workflow), stage=max(stages) if stages else None,
        tasks_in_state=sum(len(wf.tasks) for wf in _all_workflows(workflow)), pruned=pruned,
        completed_data=completed_data or {}, waiting=[] if incident else _waiting(workflow),
        thrown=_thrown(workflow),
    )


def failed_step(state: State, message: str, data: dict[str, Any] | None = None) -> StepResult:
    """The step could not run at all: the stored state stays exactly as it was, in incident."""
    return StepResult(
        state=state, status="incident", open_tasks=[], finished=[], notifications=[],
        next_timer_at=None, incident=message[:2000], data=dict(data or {}), stage=None, unchanged=True,
    )


def _guarded(state: State, step: Callable[[], StepResult]) -> StepResult:
    """Run `step`; anything but a refused input becomes an incident on the unchanged state."""
    try:
        return step()
    except TaskNotReady:
        raise
    except (Exception, SystemExit) as err:  # noqa: BLE001 - never a traceback, always an incident
        return failed_step(state, _could_not_run(err))


def _could_not_run(err: BaseException) -> str:
    message = _error_message(err)
    running = _running.get()
    if running and running not in message:
        message += f" in {running}"
    return f"the engine could not run this step: {message}"


# ---------------------------------------------------------------- operations


def start(model: ProcessModel, data: dict[str, Any],
          time_limit: float = sandbox.DEFAULT_TIME_LIMIT,
          on_initial: Callable[[dict[str, Any]], None] | None = None) -> StepResult:
    """Create a new case from `model` with start `data` and run it to its first wait.

    `on_initial` receives the state before anything ran: a worker hands it to the parent
    first, so a start killed over a limit still leaves a case that can be retried.
    """
    engine = CaseScriptEngine(time_limit)
    clean = sandbox.to_storable(data)  # refused data is the caller's error (ScriptError)
    workflow = event_scopes.install(BpmnWorkflow(model.spec, model.subprocess_specs, script_engine=engine))
    start_task = workflow.task_tree
    start_task.data.update(clean)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(clean)
    initial = _dump(workflow)[0]
    if on_initial is not None:
        on_initial(initial)

    def step() -> StepResult:
        _running.set(None)
        return _result(workflow, model, engine, {}, _advance(workflow, model))

    try:
        return step()
    except (Exception, SystemExit) as err:  # noqa: BLE001 - never a traceback, always an incident
        return failed_step(initial, _could_not_run(err), clean)


def _ready_human_task(workflow: BpmnWorkflow, task_id: str) -> Any:
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, TaskNotFoundException, WorkflowException, KeyError):
        raise TaskNotReady("the task is not part of this case any more") from None
    if task is None:
        raise TaskNotReady("the task is not part of this case any more")
    if not task.task_spec.manual:
        raise TaskNotReady("the task is not a human task")
    if task.state != TaskState.READY:
        state = TaskState.get_name(task.state).lower()
        raise TaskNotReady(f"the task is no longer open (it is {state})")
    return task


def complete(model: ProcessModel, state: State, task_id: str, data: dict[str, Any],
             time_limit: float = sandbox.DEFAULT_TIME_LIMIT, clear: frozenset[str] = frozenset()) -> StepResult:
    """Complete the human task `task_id` with `data` and run the case to its next wait.

    `clear` names the form's fields the user left empty: they are removed, so a value an
    earlier task gave the same field (every gate has a `reason`) does not live on as if
    it had been given here.
    """
    engine = CaseScriptEngine(time_limit)
    clean = sandbox.to_storable(data)

    def step() -> StepResult:
        _running.set(None)
        workflow = _load(model, state, engine)
        task = _ready_human_task(workflow, task_id)
        before = _task_states(workflow)
        for name in clear:
            task.data.pop(name, None)
        task.set_data(**clean)
        incident = None
        try:
            _will_run(task)
            task.run()
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a failing postScript is an incident
            incident = _error_message(err)
        if incident is None:
            incident = _advance(workflow, model)
        return _result(workflow, model, engine, before, incident, completed_data=clean)

    return _guarded(state, step)


def fire_timers(model: ProcessModel, state: State,
                time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> StepResult:
    """Fire the timers that are due by the engine clock and run the case on."""
    engine = CaseScriptEngine(time_limit)

    def step() -> StepResult:
        _running.set(None)
        workflow = _load(model, state, engine)
        before = _task_states(workflow)
        return _result(workflow, model, engine, before, _advance(workflow, model))

    return _guarded(state, step)


def retry(model: ProcessModel, state: State,
          time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> StepResult:
    """Run the failed steps of a case in incident again (after the model or data is fixed)."""
    engine = CaseScriptEngine(time_limit)

    def step() -> StepResult:
        _running.set(None)
        workflow = _load(model, state, engine)
        before = _task_states(workflow)
        for wf in _all_workflows(workflow):
            for task in list(wf.tasks.values()):
                if task.state == TaskState.ERROR:
                    task._set_state(TaskState.READY)
        return _result(workflow, model, engine, before, _advance(workflow, model))

    return _guarded(state, step)


def _catch(workflow: BpmnWorkflow, kind: str, name: str, payload: dict[str, Any]) -> int:
    """Hand a message or signal to the tasks waiting for it; the payload joins their data."""
    caught = 0
    for task in list(workflow.event_manager.tasks.values()):
        for definition in _definitions(task.task_spec.event_definition):
            if _CATCHABLE.get(type(definition).__name__) != kind or definition.name != name:
                continue
            if getattr(definition, "message_var", None) is None and getattr(definition, "variable", None) is None:
                task.data.update(payload)  # Camunda's way: the payload's fields become case data
            workflow.catch(BpmnEvent(definition, payload=dict(payload)))
            caught += 1
            break
    if not caught:  # an event subprocess that starts with it
        for definition in _event_subprocess_starts(workflow):
            if _CATCHABLE.get(type(definition).__name__) == kind and definition.name == name:
                workflow.catch(BpmnEvent(definition, payload=dict(payload)))
                for sub in workflow.subprocesses.values():
                    for task in sub.tasks.values():
                        if task.state in (TaskState.READY, TaskState.WAITING, TaskState.FUTURE):
                            task.data.update(payload)
                caught += 1
                break
    return caught


def deliver(model: ProcessModel, state: State, kind: str, name: str, payload: dict[str, Any],
            time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> StepResult:
    """Deliver a message or signal to a case waiting for it and run the case on.

    Raises TaskNotReady when the case does not wait for it (any more).
    """
    engine = CaseScriptEngine(time_limit)
    clean = sandbox.to_storable(payload)

    def step() -> StepResult:
        _running.set(None)
        workflow = _load(model, state, engine)
        before = _task_states(workflow)
        known = _begun(workflow)
        try:
            caught = _catch(workflow, kind, name, clean)
        except (Exception, SystemExit) as err:  # noqa: BLE001 - a failing catch is an incident
            return _result(workflow, model, engine, before, _error_message(err))
        if not caught:
            raise TaskNotReady(f"the case does not wait for the {kind} '{name}'")
        return _result(workflow, model, engine, before, _advance(workflow, model, known))

    return _guarded(state, step)


def start_by(model: ProcessModel, kind: str, name: str, payload: dict[str, Any],
             time_limit: float = sandbox.DEFAULT_TIME_LIMIT,
             on_initial: Callable[[dict[str, Any]], None] | None = None) -> StepResult:
    """Start a case at its message (or signal) start event with `payload` as its data."""
    first = start(model, payload, time_limit, on_initial=on_initial)
    if first.status != "running" or (kind, name) not in first.waiting:
        raise TaskNotReady(f"the process does not start with the {kind} '{name}'")
    return deliver(model, first.state, kind, name, payload, time_limit)


def task_data(model: ProcessModel, state: State, task_id: str) -> dict[str, Any] | None:
    """The data one task sees (a multi-instance task's own item, e.g. its `condition`); None if it is gone."""
    workflow = _load(model, state, CaseScriptEngine())
    try:
        task = workflow.get_task_from_id(UUID(task_id))
    except (ValueError, TaskNotFoundException, WorkflowException, KeyError):
        return None
    return dict(task.data) if task is not None else None


def inspect(model: ProcessModel, state: State) -> StepResult:
    """Describe a stored case without changing it."""
    engine = CaseScriptEngine()
    workflow = _load(model, state, engine)
    return _result(workflow, model, engine, _task_states(workflow), None)

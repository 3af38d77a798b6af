"""Move a running case to a newer version of its process (SpiffWorkflow's diff utilities).

A case can move when every task still in its (pruned) tree has a counterpart in the new
version; a case that sits on an element the new version removed is refused, with the
element named, because there is no honest place to put it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from . import sandbox
from .errors import EngineError
from .models import ModelCache, ProcessModel
from .runtime import _SERIALIZER, CaseScriptEngine, StepResult, _advance, _load, _result, _task_states


class MigrationRefused(EngineError):
    """The case sits on something the new version no longer has."""


@dataclass(frozen=True)
class MigrationPreview:
    """What a migration would change for one case."""

    blocking: list[str] = field(default_factory=list)  # why it cannot move, per element
    changed: list[str] = field(default_factory=list)  # live elements whose definition changed
    reset: list[str] = field(default_factory=list)  # open/waiting elements that restart
    added: list[str] = field(default_factory=list)  # elements new in the target version

    @property
    def possible(self) -> bool:
        return not self.blocking


def _label(spec: Any) -> str:
    return f"{spec.bpmn_name or spec.bpmn_id} ({spec.bpmn_id})"


def _diff(workflow: Any, target: ProcessModel) -> tuple[Any, dict[Any, Any]]:
    return diff_workflow(_SERIALIZER.registry, workflow, target.spec, target.subprocess_specs)


def _preview(workflow: Any, target: ProcessModel) -> MigrationPreview:
    top, subs = _diff(workflow, target)
    blocking, changed, reset = [], [], []
    for task in top.removed:
        if task.task_spec.bpmn_id is None:
            continue
        state = TaskState.get_name(task.state).lower()
        blocking.append(f"{_label(task.task_spec)} is {state} in this case but removed in the new version")
    for sub_id, sub_diff in subs.items():
        if sub_diff is None and not workflow.subprocesses[sub_id].completed:
            blocking.append(f"the called process {workflow.subprocesses[sub_id].spec.name} is running "
                            "but the new version no longer has it")
    for task in top.changed:
        if task.task_spec.bpmn_id is not None and task.state & TaskState.NOT_FINISHED_MASK:
            changed.append(_label(task.task_spec))
    for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True):
        if task.task_spec.bpmn_id is not None:
            reset.append(_label(task.task_spec))
    added = sorted(_label(s) for s in target.spec.task_specs.values()
                   if s.bpmn_id is not None and s.name not in workflow.spec.task_specs)
    return MigrationPreview(blocking=sorted(set(blocking)), changed=sorted(set(changed)),
                            reset=sorted(set(reset)), added=added)


def preview(current: ProcessModel, target: ProcessModel, state: dict[str, Any]) -> MigrationPreview:
    """What moving this case from `current` to `target` would do, without doing it."""
    workflow = _load(current, state, CaseScriptEngine())
    return _preview(workflow, target)


def migrate(current: ProcessModel, target: ProcessModel, state: dict[str, Any],
            time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> tuple[StepResult, MigrationPreview]:
    """Move the case; open and waiting tasks restart on their new definitions."""
    engine = CaseScriptEngine(time_limit)
    workflow = _load(current, state, engine)
    plan = _preview(workflow, target)
    if not plan.possible:
        raise MigrationRefused("; ".join(plan.blocking))
    before = _task_states(workflow)
    top, subs = _diff(workflow, target)
    migrate_workflow(top, workflow, target.spec)
    for sub_id, sub_diff in subs.items():
        sub = workflow.subprocesses[sub_id]
        if sub_diff is not None:
            migrate_workflow(sub_diff, sub, target.subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = target.subprocess_specs
    incident = _advance(workflow)
    return _result(workflow, target, engine, before, incident), plan


_stored_models = ModelCache()  # in an engine worker: the versions a migration moves between


def migrate_stored(current: tuple[str, dict[str, str]], target: tuple[str, dict[str, str]], state: dict[str, Any],
                   time_limit: float = sandbox.DEFAULT_TIME_LIMIT) -> tuple[str, Any]:
    """`migrate` between two stored versions ((key, files) each), for an engine worker.

    Moving a case runs it on (its open tasks restart, timers and scripts may fire), so it
    is an engine step like any other and runs in a worker (EngineWorkers.call). Returns
    ("moved", (result, plan)) or ("refused", why): a refusal is an answer, not a failure.
    """
    try:
        return "moved", migrate(_stored_models.get(*current), _stored_models.get(*target), state, time_limit)
    except MigrationRefused as err:
        return "refused", str(err)

"""Event subprocesses inside embedded subprocesses start in their own scope, as BPMN says.

SpiffWorkflow starts an event subprocess whose start event is a message, signal, error or
escalation only when it is drawn directly in the process: `EventManager.update_collaboration`
looks at the top process's start triggers alone. One drawn inside an embedded subprocess
("if the reviewer's budget error happens while the pilot runs ...") would never start: the
error bubbles up past it (an incident), the message is refused as unexpected.

`ScopedEventManager` keeps SpiffWorkflow's rules and adds the missing one: when an event
reaches an embedded subprocess that is running and nothing waiting there catches it, an
event subprocess of that subprocess whose start event matches starts there, before the
event travels on to the enclosing scope (boundary events, the process's own event
subprocesses). Whether it then interrupts its scope is the runtime's `_interrupt`: it
cancels the rest of the scope the event subprocess belongs to, and only that.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TIMER_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.specs.defaults import StartEvent
from SpiffWorkflow.bpmn.util.event import EventManager
from SpiffWorkflow.spiff.parser.event_parsers import SpiffStartEventParser
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState


class _StartEventParser(SpiffStartEventParser):
    """Start events that read error and escalation definitions too.

    SpiffWorkflow's start-event parser reads only message, signal, timer and conditional
    definitions, so the start event of an error (or escalation) event subprocess became a
    plain start: the "error handler" ran as soon as its scope began. Those two start
    events only exist in event subprocesses (the deploy checks say so for any other).
    """

    def create_task(self) -> Any:
        paths = [MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH]
        if self.node.getparent() is not None and self.node.getparent().get("triggeredByEvent") == "true":
            paths += [ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH]
        task = self._create_task(self.get_event_definition(paths))
        self.spec.start.connect(task)
        return task


class CaseParser(SpiffBpmnParser):
    """SpiffWorkflow's parser with the start events above."""

    OVERRIDE_PARSER_CLASSES = {**SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
                               full_tag("startEvent"): (_StartEventParser, StartEvent)}


def _scope_triggers(scope: Any) -> list[tuple[str, Any]]:
    """(event subprocess spec name, start event spec) of the scope's event-started event subprocesses."""
    top = scope.top_workflow
    found = []
    for name in getattr(scope.spec.start, "trigger_specs", None) or []:
        spec = top.subprocess_specs.get(name)
        for start in getattr(spec, "bpmn_start_events", None) or []:
            found.append((name, start))
    return found


_running_task: ContextVar[Any] = ContextVar("iphs_running_task", default=None)


def running(task: Any) -> None:
    """The engine is about to run `task` (an error or escalation it throws starts from its scope)."""
    _running_task.set(task)


def _thrower_scopes(top: Any) -> list[Any] | None:
    """The scopes around the task that runs now, innermost first; None if no task is known."""
    task = _running_task.get()
    if task is None:
        return None
    scopes, current = [], task.workflow
    while current is not None and current is not top:
        scopes.append(current)
        current = current.parent_workflow
    return scopes


def nested_scopes(workflow: Any) -> list[Any]:
    """The running subprocesses (embedded, or called) that have event subprocesses of their own."""
    return [sub for sub in workflow.subprocesses.values()
            if not sub.completed and sub is not workflow and _scope_triggers(sub)]


def nested_start_definitions(workflow: Any) -> list[Any]:
    """Start-event definitions of the event subprocesses of running embedded subprocesses."""
    return [start.event_definition for scope in nested_scopes(workflow) for _name, start in _scope_triggers(scope)]


def _waiting_start(scope: Any, spec_name: str, start_name: str) -> Any:
    """An instance of this event subprocess already waiting at its start event in this scope."""
    top = scope.top_workflow
    for task_id, sub in top.subprocesses.items():
        if sub.spec.name != spec_name or sub.completed:
            continue
        caller = top.get_task_from_id(task_id)
        if caller is not None and caller.workflow is scope:
            waiting = sub.get_next_task(state=TaskState.WAITING, spec_name=start_name)
            if waiting is not None:
                return sub
    return None


def _start_in(scope: Any, event: Any) -> Any:
    """Start the scope's event subprocess that begins with `event`; its new workflow, or None."""
    for spec_name, start in _scope_triggers(scope):
        if start.event_definition != event.event_definition:
            continue
        existing = _waiting_start(scope, spec_name, start.name)
        if existing is not None:
            return existing
        return _trigger(scope, spec_name)
    return None


def _trigger(scope: Any, spec_name: str) -> Any:
    """Start one instance of the event subprocess `spec_name` in `scope`; its workflow.

    SpiffWorkflow's own `BpmnStartTask.trigger_wf` connects the event subprocess to the
    start and end of the scope's *spec* the first time it fires. The spec is shared by
    every case on the model (and by the scope's next instance in a loop), so from then on
    each of them started the event subprocess as an ordinary branch and its end waited for
    it. Here the instance is added to this case's tree only; the spec stays as parsed.
    """
    spec = scope.spec.task_specs.get(spec_name)
    if spec is None or scope.task_tree is None:
        return None
    if not spec._inputs:
        # SpiffWorkflow refuses to run a task spec without an input; naming the scope's start
        # as one satisfies it without adding a branch (the start's outputs stay as they are).
        spec._inputs.append(scope.spec.start.name)
    child = scope.task_tree._add_child(spec, TaskState.FUTURE)
    child.triggered = True
    child.task_spec._update(child)
    return scope.top_workflow.subprocesses.get(child.id)


def _catch_in(manager: EventManager, started: Any, event: Any) -> int:
    tasks = [t for t in list(manager.tasks.values()) if t.workflow is started
             and t.task_spec.event_definition.catches(t, event)]
    for task in tasks:
        task.task_spec.catch(task, event)
        task.task_spec._update(task)
    return len(tasks)


class ScopedEventManager(EventManager):
    """SpiffWorkflow's event manager, with event subprocesses of embedded subprocesses."""

    def update_collaboration(self, event: Any) -> None:
        """The process's own event subprocesses, started without changing the shared spec (`_trigger`)."""
        started = _start_in(self.workflow, event)
        if started is not None:
            started.correlations.update(event.correlations)

    def catch(self, event: Any, internal: bool = True) -> int:
        target = event.target
        if target is not None and target is not self.workflow:
            waiting = [t for t in self.tasks.values() if t.workflow == target
                       and t.task_spec.event_definition.catches(t, event)]
            if not waiting and not target.completed:
                started = _start_in(target, event)
                if started is not None:
                    return _catch_in(self, started, event)
            return super().catch(event, internal)
        if target is None:
            coded = type(event.event_definition).__name__ in ("ErrorEventDefinition", "EscalationEventDefinition")
            scopes = nested_scopes(self.workflow)
            chain = _thrower_scopes(self.workflow) if coded else None
            if chain is not None:  # an error or escalation goes to the innermost scope around its thrower
                scopes = [s for s in chain if s in scopes]
            caught = 0
            for scope in scopes:
                if any(t.workflow == scope and t.task_spec.event_definition.catches(t, event)
                       for t in self.tasks.values()):
                    continue  # something waiting in the scope itself catches it (below)
                started = _start_in(scope, event)
                if started is not None:
                    caught += _catch_in(self, started, event)
                    if coded:
                        break
            if caught and "Signal" not in type(event.event_definition).__name__:
                return caught  # a message goes to one place; an error or escalation to the innermost handler
            return caught + super().catch(event, internal)
        return super().catch(event, internal)


def install(workflow: Any) -> Any:
    """Give a created or restored workflow the scoped event manager (its waiting tasks kept)."""
    manager = workflow.event_manager
    if type(manager) is EventManager:
        manager.__class__ = ScopedEventManager
    return workflow

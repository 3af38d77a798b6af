"""Parse deployable process models; cache the parsed specs by content hash.

The modelling rules (what is refused, what is a warning) live in model_checks, once: the
parser here only refuses what SpiffWorkflow cannot build, and reads what the runtime
needs through the same helpers (task_properties, the timer rule).

A deployment is a set of BPMN and DMN files. Each executable process in it that is not
only reached through a call activity becomes a deployable process; its content is the
closure of files it needs (its own file, called processes, DMN tables), so changing one
process does not create new versions of the others.
"""

from __future__ import annotations

import ast
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask
from SpiffWorkflow.spiff.specs.mixins.service_task import ServiceTask as SpiffServiceTaskMixin  # noqa: F401

from . import foreign_models, isolation, sandbox
from .errors import InvalidModel, ScriptError, StepKilled, UnsafeXML
from .event_scopes import CaseParser
from .links import LinkProblem, connect_links
from .model_checks import timer_problem
from .task_properties import user_task_properties
from .xml_safety import check_untrusted_xml

SERVICE_OPERATORS = frozenset({"notify"})
NOTIFY_RECIPIENTS_HELP = "owner, assignee, manager or group:<name>"


@dataclass(frozen=True)
class UserTaskInfo:
    """What the inbox needs to know about a user task, read from the model."""

    bpmn_id: str
    name: str
    process_id: str
    lane: str | None
    form_key: str | None  # None: a "mark as done" task that shows its documentation
    due_expression: str | None
    stage: int | None
    candidate_group_expression: str | None
    documentation: str | None
    assignee_expression: str | None = None


@dataclass
class ProcessModel:
    """A parsed, checked process ready to run; shared by every case on this content."""

    key: str
    name: str
    content_hash: str
    files: dict[str, str]
    spec: Any
    subprocess_specs: dict[str, Any]
    user_tasks: dict[str, UserTaskInfo] = field(default_factory=dict)
    # Event subprocesses whose start event interrupts (BPMN's default; SpiffWorkflow runs them
    # all as non-interrupting, the runtime cancels the rest of the scope for these).
    interrupting: frozenset[str] = frozenset()
    event_subprocesses: frozenset[str] = frozenset()  # every triggeredByEvent subprocess, by id

    @property
    def lanes(self) -> set[str]:
        return {t.lane for t in self.user_tasks.values() if t.lane}

    @property
    def form_keys(self) -> set[str]:
        return {t.form_key for t in self.user_tasks.values() if t.form_key}


def _safe_tree(content: bytes, file_name: str) -> etree._Element:
    check_untrusted_xml(content, file_name)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_blank_text=False)
    return etree.fromstring(content, parser)


def content_hash(files: dict[str, str]) -> str:
    """A stable hash over file names and contents."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(files[name].encode())
        digest.update(b"\0")
    return digest.hexdigest()


class _Deployment:
    """One parser over all files of a deployment, with helpers to point at elements."""

    def __init__(self, files: dict[str, bytes], recheck: bool = True) -> None:
        self.recheck = recheck
        self.parser = CaseParser()
        self.texts: dict[str, str] = {}
        self.trees: dict[str, etree._Element] = {}
        for name, content in sorted(files.items()):
            tree = _safe_tree(content, name)
            self.trees[name] = tree
            self.texts[name] = content.decode("utf-8")
            try:
                if name.lower().endswith(".dmn"):
                    self.parser.add_dmn_xml(tree, filename=name)
                elif name.lower().endswith(".bpmn") or name.lower().endswith(".xml"):
                    self.parser.add_bpmn_xml(foreign_models.quote_iso_timers(connect_links(tree)), filename=name)
                else:
                    raise InvalidModel("only .bpmn and .dmn files can be deployed", file_name=name)
            except ValidationException as err:
                raise self._invalid(err) from None
            except LinkProblem as err:
                raise InvalidModel(str(err), file_name=name, element_id=err.element.get("id"),
                                   line=err.element.sourceline) from None
            except etree.DocumentInvalid as err:
                raise InvalidModel(f"not valid BPMN/DMN: {err}", file_name=name) from None

    def line_of(self, element_id: str | None, file_name: str | None = None) -> int | None:
        if not element_id:
            return None
        names = [file_name] if file_name in self.trees else list(self.trees)
        for name in names:
            found = self.trees[name].xpath("//*[@id=$id]", id=element_id)
            if found:
                return found[0].sourceline
        return None

    def _invalid(self, err: ValidationException) -> InvalidModel:
        file_name = err.file_name or None
        element = err.id or None
        return InvalidModel(str(err).split("\n")[0], file_name=file_name, element_id=element,
                            line=self.line_of(element, file_name))

    def invalid(self, message: str, process_id: str, element_id: str) -> InvalidModel:
        file_name = self.process_file(process_id)
        return InvalidModel(message, file_name=file_name, element_id=element_id,
                            line=self.line_of(element_id, file_name))

    def element(self, element_id: str, process_id: str) -> etree._Element | None:
        """The XML element of `element_id`, in the file of `process_id` first."""
        first = self.process_file(process_id)
        for name in [first, *[n for n in self.trees if n != first]]:
            if name not in self.trees:
                continue
            found = self.trees[name].xpath("//*[@id=$id]", id=element_id)
            if found:
                return found[0]
        return None

    def process_file(self, process_id: str) -> str | None:
        parser = self.parser.get_process_parser(process_id)
        return parser.filename if parser is not None else None

    def spec(self, process_id: str) -> Any:
        try:
            return self.parser.get_spec(process_id)
        except ValidationException as err:
            raise self._invalid(err) from None
        except SpiffWorkflowException as err:
            raise InvalidModel(str(err), file_name=self.process_file(process_id)) from None


def _check_code(source: str | None, mode: str, what: str, deployment: _Deployment,
                process_id: str, element_id: str) -> None:
    if not source or not deployment.recheck:
        return
    isolation.note(f"{what} of '{element_id}' ({element_id})")
    try:
        sandbox.compile_untrusted(source.strip() if mode == "eval" else source, mode)
    except ScriptError as err:
        raise deployment.invalid(f"{what} is not allowed: {err}", process_id, element_id) from None


def _expression_names(expression: str) -> set[str]:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def _check_timer(spec: Any, deployment: _Deployment, process_id: str) -> None:
    """The timer rule of model_checks (one rule set): it compiles, and evaluates when it needs no data."""
    if not deployment.recheck:
        return
    isolation.note(f"the timer '{spec.bpmn_name or spec.bpmn_id}' ({spec.bpmn_id})")
    definition = spec.event_definition
    kind = {"CycleTimerEventDefinition": "timeCycle", "DurationTimerEventDefinition": "timeDuration"}.get(
        type(definition).__name__, "timeDate")
    problem = timer_problem(kind, definition.expression or "")
    if problem is not None:
        raise deployment.invalid(problem, process_id, spec.bpmn_id)


def _user_task_info(spec: Any, process_id: str, deployment: _Deployment) -> UserTaskInfo:
    """What the inbox needs, read from the XML as the deploy checks read it (task_properties)."""
    element = deployment.element(spec.bpmn_id, process_id)
    props = user_task_properties(element)[0] if element is not None else \
        dict((spec.extensions or {}).get("properties", {}))
    stage = props.get("stage")
    if stage is not None:
        try:
            stage = int(stage)
        except ValueError:
            raise deployment.invalid(f"stage must be a number, got {stage!r}", process_id,
                                     spec.bpmn_id) from None
    for prop in ("dueDate", "candidateGroup", "assignee"):
        _check_code(props.get(prop), "eval", f"the {prop} expression", deployment, process_id, spec.bpmn_id)
    return UserTaskInfo(
        bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, process_id=process_id,
        lane=spec.lane, form_key=(props.get("formKey") or "").strip() or None,
        due_expression=props.get("dueDate") or None, stage=stage,
        candidate_group_expression=props.get("candidateGroup") or None,
        documentation=getattr(spec, "documentation", None),
        assignee_expression=props.get("assignee") or None,
    )


def _check_spec(wf_spec: Any, process_id: str, deployment: _Deployment,
                user_tasks: dict[str, UserTaskInfo]) -> None:
    for spec in wf_spec.task_specs.values():
        if getattr(spec, "bpmn_id", None) is None:
            continue
        if isinstance(spec, UserTask):
            user_tasks[spec.bpmn_id] = _user_task_info(spec, process_id, deployment)
        if isinstance(spec, ServiceTask):
            if spec.operation_name not in SERVICE_OPERATORS:
                raise deployment.invalid(
                    f"unknown service operator '{spec.operation_name}'; "
                    f"available: {', '.join(sorted(SERVICE_OPERATORS))}", process_id, spec.bpmn_id)
            for name, param in spec.operation_params.items():
                _check_code(param["value"], "eval", f"the parameter '{name}'", deployment,
                            process_id, spec.bpmn_id)
        script = getattr(spec, "script", None)
        if isinstance(script, str):
            _check_code(script, "exec", "the script", deployment, process_id, spec.bpmn_id)
        for attr in ("prescript", "postscript"):
            _check_code(getattr(spec, attr, None), "exec", f"the {attr}", deployment, process_id,
                        spec.bpmn_id)
        for condition, _target in getattr(spec, "cond_task_specs", None) or []:
            source = condition.args[0] if condition is not None and getattr(condition, "args", None) else None
            _check_code(source, "eval", "the gateway condition", deployment, process_id, spec.bpmn_id)
        if isinstance(spec, CatchingEvent) and isinstance(spec.event_definition, TimerEventDefinition):
            _check_timer(spec, deployment, process_id)
        if isinstance(spec, BusinessRuleTaskMixin):
            table = spec.dmnEngine.decision_table
            for rule in table.rules:
                for entry in rule.outputEntries:
                    _check_code(entry.text, "eval", f"DMN output (row {rule.row_number})",
                                deployment, process_id, spec.bpmn_id)


def _closure(deployment: _Deployment, process_id: str) -> tuple[dict[str, Any], set[str]]:
    """The subprocess specs and the files a process needs."""
    files = {deployment.process_file(process_id)}
    parser = deployment.parser
    try:
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as err:
        raise deployment._invalid(err) from None
    for sub_id in subprocess_specs:
        files.add(deployment.process_file(sub_id))
    for wf_spec in [deployment.spec(process_id), *subprocess_specs.values()]:
        for spec in wf_spec.task_specs.values():
            if isinstance(spec, BusinessRuleTaskMixin):
                decision_id = spec.dmnEngine.decision_table.id
                for dmn_id, dmn_parser in parser.dmn_parsers.items():
                    table_ids = {t.id for t in _decision_tables(dmn_parser)}
                    if decision_id in table_ids or dmn_id == decision_id:
                        files.add(dmn_parser.filename)
    files.discard(None)
    return subprocess_specs, files


def _decision_tables(dmn_parser: Any) -> list[Any]:
    dmn_parser.parse()
    return list(dmn_parser.decision.decisionTables)


def parse_deployment(files: dict[str, bytes], recheck: bool = True) -> dict[str, ProcessModel]:
    """Parse and check a set of BPMN/DMN files; return the startable processes by key.

    Raises UnsafeXML or InvalidModel (with file, element and line) for anything that
    must not be deployed. `recheck=False` is for stored versions, whose code was compiled
    and whose timers were evaluated (in a worker) when they were deployed: reading them
    again compiles no model code.
    """
    if not files:
        raise InvalidModel("no BPMN files to deploy")
    deployment = _Deployment(files, recheck)
    process_ids = deployment.parser.get_process_ids()
    called = set()
    for pid in process_ids:
        for spec in deployment.spec(pid).task_specs.values():
            if isinstance(spec, SubWorkflowTask) and hasattr(spec, "spec"):
                called.add(spec.spec)
    startable = [pid for pid in process_ids if pid not in called]
    if not startable:
        raise InvalidModel("the files hold no executable process (isExecutable=\"true\")")
    models = {}
    for pid in startable:
        subprocess_specs, needed = _closure(deployment, pid)
        user_tasks: dict[str, UserTaskInfo] = {}
        spec = deployment.spec(pid)
        _check_spec(spec, pid, deployment, user_tasks)
        for sub_id, sub_spec in subprocess_specs.items():
            _check_spec(sub_spec, sub_id, deployment, user_tasks)
        model_files = {name: deployment.texts[name] for name in sorted(needed)}
        interrupting = frozenset(
            sub.get("id") for name in needed for sub in deployment.trees[name].iter(f"{{{_BPMN}}}subProcess")
            if sub.get("triggeredByEvent") == "true" and any(
                start.get("isInterrupting", "true") != "false" for start in sub.findall(f"{{{_BPMN}}}startEvent")))
        event_subprocesses = frozenset(
            sub.get("id") for name in needed for sub in deployment.trees[name].iter(f"{{{_BPMN}}}subProcess")
            if sub.get("triggeredByEvent") == "true")
        models[pid] = ProcessModel(
            key=pid, name=spec.description or pid, content_hash=content_hash(model_files),
            files=model_files, spec=spec, subprocess_specs=subprocess_specs, user_tasks=user_tasks,
            interrupting=interrupting, event_subprocesses=event_subprocesses,
        )
    return models


_BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass(frozen=True)
class Deployable:
    """A process that passed every check at deploy: what storing a version needs."""

    key: str
    name: str
    files: dict[str, str]
    form_keys: frozenset[str]


def _deployables_here(files: dict[str, bytes]) -> dict[str, Deployable]:
    return {key: Deployable(key, model.name, model.files, frozenset(model.form_keys))
            for key, model in parse_deployment(files).items()}


def check_deployment(files: dict[str, bytes]) -> dict[str, Deployable]:
    """`parse_deployment` in an engine worker (isolation): it compiles every script and cell.

    Raises UnsafeXML or InvalidModel as parse_deployment does; a worker stopped over a
    limit is an InvalidModel naming the element the parser was checking.
    """

    try:
        return isolation.run(_deployables_here, files)
    except StepKilled as err:
        label, why = isolation.stopped_at(str(err))
        where = f" at {label}" if label else ""
        raise InvalidModel(f"the checks were stopped{where}: {why}",
                           element_id=isolation.element_id(label)) from None


def start_events(files: dict[str, str], key: str) -> set[tuple[str, str]]:
    """(message | signal, name) of the start events of process `key`: what can start a case.

    Read from the XML alone (no code runs); names are the message's or signal's name, as
    the engine matches them.
    """
    found: set[tuple[str, str]] = set()
    for name, text in files.items():
        if not name.lower().endswith(".bpmn"):
            continue
        root = _safe_tree(text.encode("utf-8"), name)
        names = {e.get("id"): (e.get("name") or e.get("id")) for tag in ("message", "signal")
                 for e in root.iter(f"{{{_BPMN}}}{tag}")}
        for process in root.iter(f"{{{_BPMN}}}process"):
            if process.get("id") != key:
                continue
            for event in process.findall(f"{{{_BPMN}}}startEvent"):
                for tag, attribute in (("message", "messageRef"), ("signal", "signalRef")):
                    definition = event.find(f"{{{_BPMN}}}{tag}EventDefinition")
                    if definition is not None and definition.get(attribute):
                        found.add((tag, names.get(definition.get(attribute), definition.get(attribute))))
    return found


class ModelCache:
    """Parsed models by content hash: parsing costs milliseconds, loading a case must not."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], ProcessModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, files: dict[str, str]) -> ProcessModel:
        digest = content_hash(files)
        with self._lock:
            model = self._items.get((key, digest))
            if model is not None:
                self._items.move_to_end((key, digest))
                return model
        models = parse_deployment({name: text.encode("utf-8") for name, text in files.items()}, recheck=False)
        if key not in models:
            raise InvalidModel(f"the stored version holds no process '{key}'")
        with self._lock:
            self._items[(key, digest)] = models[key]
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return models[key]


__all__ = ["ModelCache", "ProcessModel", "UserTaskInfo", "parse_deployment", "content_hash", "check_deployment",
           "Deployable",
           "InvalidModel", "UnsafeXML"]

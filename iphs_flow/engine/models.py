"""Parse and check deployable process models; cache the parsed specs by content hash.

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
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask
from SpiffWorkflow.spiff.specs.mixins.service_task import ServiceTask as SpiffServiceTaskMixin  # noqa: F401

from . import sandbox
from .errors import InvalidModel, ScriptError, UnsafeXML
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
    form_key: str
    due_expression: str | None
    stage: int | None
    candidate_group_expression: str | None
    documentation: str | None


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

    @property
    def lanes(self) -> set[str]:
        return {t.lane for t in self.user_tasks.values() if t.lane}

    @property
    def form_keys(self) -> set[str]:
        return {t.form_key for t in self.user_tasks.values()}


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

    def __init__(self, files: dict[str, bytes]) -> None:
        self.parser = SpiffBpmnParser()
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
                    self.parser.add_bpmn_xml(tree, filename=name)
                else:
                    raise InvalidModel("only .bpmn and .dmn files can be deployed", file_name=name)
            except ValidationException as err:
                raise self._invalid(err) from None
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
    if not source:
        return
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
    """A timer expression must compile; one that needs no case data must evaluate."""
    definition = spec.event_definition
    expression = definition.expression
    _check_code(expression, "eval", "the timer expression", deployment, process_id, spec.bpmn_id)
    if _expression_names(expression) <= sandbox.RESERVED_NAMES:
        environment = sandbox.SandboxedEnvironment()
        try:
            value = environment.evaluate(expression, {})
            if type(definition).__name__ == "CycleTimerEventDefinition":
                TimerEventDefinition.parse_iso_recurring_interval(value)
            elif type(definition).__name__ == "DurationTimerEventDefinition":
                TimerEventDefinition.parse_iso_duration(value)
            else:
                TimerEventDefinition.parse_time_or_duration(value)
        except Exception as err:  # noqa: BLE001 - any failure is a modelling error to report
            raise deployment.invalid(
                f"the timer expression {expression!r} does not give a date, duration or cycle: {err}",
                process_id, spec.bpmn_id) from None


def _user_task_info(spec: Any, process_id: str, deployment: _Deployment) -> UserTaskInfo:
    props = (spec.extensions or {}).get("properties", {})
    form_key = props.get("formKey")
    if not form_key:
        raise deployment.invalid(f"the user task '{spec.bpmn_name or spec.bpmn_id}' names no form "
                                 "(property formKey)", process_id, spec.bpmn_id)
    stage = props.get("stage")
    if stage is not None:
        try:
            stage = int(stage)
        except ValueError:
            raise deployment.invalid(f"stage must be a number, got {stage!r}", process_id,
                                     spec.bpmn_id) from None
    for prop in ("dueDate", "candidateGroup"):
        _check_code(props.get(prop), "eval", f"the {prop} expression", deployment, process_id, spec.bpmn_id)
    return UserTaskInfo(
        bpmn_id=spec.bpmn_id, name=spec.bpmn_name or spec.bpmn_id, process_id=process_id,
        lane=spec.lane, form_key=form_key, due_expression=props.get("dueDate"), stage=stage,
        candidate_group_expression=props.get("candidateGroup"),
        documentation=getattr(spec, "documentation", None),
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
        if isinstance(spec, ExclusiveGateway):
            conditional = [c for c, _ in (spec.cond_task_specs or []) if c is not None]
            if len(spec.outputs) > 1 and not getattr(spec, "default_task_spec", None) and conditional:
                raise deployment.invalid(
                    f"the gateway '{spec.bpmn_name or spec.bpmn_id}' has no default flow; "
                    "a case would stop with an error if no condition matches",
                    process_id, spec.bpmn_id)
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


def parse_deployment(files: dict[str, bytes]) -> dict[str, ProcessModel]:
    """Parse and check a set of BPMN/DMN files; return the startable processes by key.

    Raises UnsafeXML or InvalidModel (with file, element and line) for anything that
    must not be deployed.
    """
    if not files:
        raise InvalidModel("no BPMN files to deploy")
    deployment = _Deployment(files)
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
        models[pid] = ProcessModel(
            key=pid, name=spec.description or pid, content_hash=content_hash(model_files),
            files=model_files, spec=spec, subprocess_specs=subprocess_specs, user_tasks=user_tasks,
        )
    return models


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
        models = parse_deployment({name: text.encode("utf-8") for name, text in files.items()})
        if key not in models:
            raise InvalidModel(f"the stored version holds no process '{key}'")
        with self._lock:
            self._items[(key, digest)] = models[key]
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return models[key]


__all__ = ["ModelCache", "ProcessModel", "UserTaskInfo", "parse_deployment", "content_hash",
           "InvalidModel", "UnsafeXML"]

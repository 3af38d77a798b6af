"""Modelling checks that list every problem in a set of BPMN/DMN files at once.

The parser (models.parse_deployment) stops at the first thing it cannot run. A designer
editing in the browser wants the whole list, each problem pointing at an element and a
line, so these checks read the XML directly: lanes that map to no role, user tasks
without a form, timers that do not evaluate, gateways without a default flow and
elements that no path from a start event reaches.
"""

from __future__ import annotations

import ast
import copy
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import foreign_models, isolation, sandbox
from .dmn_check import input_entry_expression
from .errors import ScriptError, StepKilled, UnsafeXML
from .links import LinkProblem, connect_links
from .task_properties import user_task_properties
from .xml_safety import check_untrusted_xml

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}

NO_LANE = "*"  # the lane mapping's entry for user tasks in no lane (the fallback group)
ERROR = "error"
WARNING = "warning"
CODE = "code"  # untrusted code the sandbox refuses
UNSAFE = "unsafe"  # XML that must not be parsed or stored
SYNTAX = "syntax"  # code that does not compile
SCHEMA = "schema"  # not valid against the BPMN 2.0 XML schema

_ACTIVITIES = {"task", "userTask", "serviceTask", "scriptTask", "manualTask", "businessRuleTask", "sendTask",
               "receiveTask", "callActivity", "subProcess", "transaction", "adHocSubProcess"}
_EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
_GATEWAYS = {"exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway"}
FLOW_NODES = _ACTIVITIES | _EVENTS | _GATEWAYS
_CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess"}
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a model, where a designer can find it."""

    element_id: str | None
    file_name: str | None
    line: int | None
    message: str
    severity: str = ERROR
    rule: str = ""  # "unsafe" (refused on upload), "code" (untrusted code refused), or a modelling rule


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _label(element: etree._Element) -> str:
    name = element.get("name")
    return f"'{name}' ({element.get('id')})" if name else f"'{element.get('id')}'"


def parse_files(files: dict[str, bytes]) -> tuple[dict[str, etree._Element], list[Problem]]:
    """The files that are safe, well-formed XML, and a problem for each one that is not."""
    trees: dict[str, etree._Element] = {}
    problems: list[Problem] = []
    for name, content in sorted(files.items()):
        if not name.lower().endswith((".bpmn", ".dmn")):
            problems.append(Problem(None, name, None, "only .bpmn and .dmn files can be deployed"))
            continue
        try:
            check_untrusted_xml(content, name)
            trees[name] = etree.fromstring(content, _SAFE_PARSER)
        except UnsafeXML as err:
            problems.append(Problem(None, name, None, str(err), ERROR, UNSAFE))
        except etree.XMLSyntaxError as err:
            problems.append(Problem(None, name, getattr(err, "lineno", None), f"not well-formed XML: {err}",
                                    ERROR, UNSAFE))
    return trees, problems


def _problem(file_name: str, element: etree._Element, message: str, severity: str = ERROR) -> Problem:
    return Problem(element.get("id"), file_name, element.sourceline, message, severity)


def _properties(element: etree._Element) -> dict[str, str]:
    """A user task's properties, Camunda's attributes read as their equivalents (task_properties)."""
    return user_task_properties(element)[0]


def timer_problem(kind: str, expression: str) -> str | None:
    """Why a timer expression cannot work, or None. `kind` is timeDuration, timeDate or timeCycle.

    Every expression must be allowed in the sandbox; one that needs no case data (only
    helpers such as now()) is evaluated now and must give a duration, date or cycle.
    """
    if not expression.strip():
        return "the timer has no expression"
    expression = foreign_models.timer_source(expression)  # Camunda's bare PT1H, R3/PT1H, dates
    try:
        sandbox.compile_untrusted(expression.strip(), "eval")
    except ScriptError as err:
        return f"the timer expression {expression.strip()!r} is not allowed: {err}"

    names = {node.id for node in ast.walk(ast.parse(expression.strip(), mode="eval")) if isinstance(node, ast.Name)}
    if not names <= sandbox.RESERVED_NAMES:
        return None  # depends on case data: checked when the timer starts
    try:
        value = sandbox.evaluate_constant(expression.strip())
        if kind == "timeCycle":
            TimerEventDefinition.parse_iso_recurring_interval(value)
        elif kind == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        else:
            TimerEventDefinition.parse_time_or_duration(value)
    except Exception as err:  # noqa: BLE001 - any failure is a modelling error to report
        hint = ' (a duration is written in quotes, e.g. "P10D")' if kind == "timeDuration" else ""
        return f"the timer expression {expression.strip()!r} does not give a {_KINDS[kind]}{hint}: {err}"
    return None


_KINDS = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}


def _check_lanes(name: str, root: etree._Element, lane_groups: dict[str, str]) -> Iterable[Problem]:
    for process in root.iter(f"{{{BPMN}}}process"):
        in_lane: set[str] = set()
        user_tasks = {t.get("id"): t for t in process.iter(f"{{{BPMN}}}userTask")}
        for lane in process.iter(f"{{{BPMN}}}lane"):
            refs = {(r.text or "").strip() for r in lane.findall(f"{{{BPMN}}}flowNodeRef")}
            in_lane |= refs
            if not refs & set(user_tasks):
                continue
            lane_name = (lane.get("name") or "").strip()
            if lane_name not in lane_groups or lane_name == NO_LANE:
                known = ", ".join(sorted(k for k in lane_groups if k != NO_LANE))
                what = f"the lane '{lane_name}'" if lane_name else f"the lane {lane.get('id')} has no name and"
                yield _problem(name, lane, f"{what} maps to no role, so nobody would get its user tasks "
                                           f"(known lanes: {known})")
        for task_id, task in user_tasks.items():
            if task_id in in_lane or "candidateGroup" in _properties(task):
                continue
            if lane_groups.get(NO_LANE):
                yield _problem(name, task, f"the user task {_label(task)} is in no lane; it goes to the fallback "
                                           f"group '{lane_groups[NO_LANE]}' (IPHS_FALLBACK_GROUP)", WARNING)
            else:
                yield _problem(name, task, f"the user task {_label(task)} is in no lane, so nobody would get it; "
                                           "put it in a lane")


def _check_user_tasks(name: str, root: etree._Element) -> Iterable[Problem]:
    for task in root.iter(f"{{{BPMN}}}userTask"):
        props, warnings = user_task_properties(task)
        for warning in warnings:
            yield _problem(name, task, f"{_label(task)}: {warning}", WARNING)
        if not props.get("formKey", "").strip():
            yield _problem(name, task, f"the user task {_label(task)} names no form: it is shown as a "
                                       "\"mark as done\" task with its documentation", WARNING)
        stage = props.get("stage")
        if stage is not None and not stage.strip().isdigit():
            yield _problem(name, task, f"the stage of {_label(task)} must be a number 0–6, got {stage!r}")


def _check_timers(name: str, root: etree._Element) -> Iterable[Problem]:
    for definition in root.iter(f"{{{BPMN}}}timerEventDefinition"):
        event = definition.getparent()
        children = [c for c in definition if _local(c) in _KINDS]
        if not children:
            yield _problem(name, event, f"the timer {_label(event)} has no time (timeDuration, timeDate or timeCycle)")
            continue
        child = children[0]
        isolation.note(f"{name}: the timer {_label(event)}")
        message = timer_problem(_local(child), child.text or "")
        if message:
            yield Problem(event.get("id"), name, child.sourceline or event.sourceline, message)


def _check_gateways(name: str, root: etree._Element) -> Iterable[Problem]:
    flows = {f.get("id"): f for f in root.iter(f"{{{BPMN}}}sequenceFlow")}
    for kind in ("exclusiveGateway", "inclusiveGateway"):
        for gateway in root.iter(f"{{{BPMN}}}{kind}"):
            outgoing = [f for f in flows.values() if f.get("sourceRef") == gateway.get("id")]
            conditional = [f for f in outgoing if (f.findtext(f"{{{BPMN}}}conditionExpression") or "").strip()]
            default = gateway.get("default")
            if default and default not in {f.get("id") for f in outgoing}:
                yield _problem(name, gateway, f"the default flow of the gateway {_label(gateway)} ({default}) "
                                              "does not leave this gateway")
            elif len(outgoing) > 1 and [f for f in outgoing if f not in conditional and f.get("id") != default]:
                loose = next(f for f in outgoing if f not in conditional and f.get("id") != default)
                yield _problem(name, gateway, f"the flow {loose.get('id')} leaves the gateway {_label(gateway)} "
                                              "without a condition and is not its default flow; make it the "
                                              "default flow or give it a condition")
            elif len(outgoing) > 1 and conditional and not default:
                yield _problem(name, gateway, f"the gateway {_label(gateway)} has no default flow; if no condition "
                                              "matches, the case stops in an incident naming the gateway", WARNING)


def _is_typo(text: str, mode: str) -> bool:
    """Whether Python itself calls `text` invalid syntax; text too deep or too large for its
    compiler is no typo but refused like any other unsafe code (and never stored)."""
    try:
        compile(text, "<bpmn>", mode, dont_inherit=True)
    except SyntaxError:
        return True
    except (RecursionError, MemoryError, ValueError, OverflowError):
        return False
    return False


def _code(name: str, element: etree._Element, source: str | None, mode: str, what: str,
          line: int | None = None) -> Iterable[Problem]:
    if not source or not source.strip():
        return
    text = source.strip() if mode == "eval" else source
    isolation.note(f"{name}: {what} of {_label(element)}")
    try:
        sandbox.compile_untrusted(text, mode)
    except ScriptError as err:
        if _is_typo(text, mode):
            # a modelling problem to fix, not an attack to refuse
            hint = foreign_models.juel_hint(text)
            yield Problem(element.get("id"), name, line or element.sourceline,
                          f"{what} of {_label(element)} is not valid Python: {hint or err}", ERROR, SYNTAX)
            return
        yield Problem(element.get("id"), name, line or element.sourceline,
                      f"{what} of {_label(element)} is refused: {err}", ERROR, CODE)


def _check_code(name: str, root: etree._Element) -> Iterable[Problem]:
    """Scripts and expressions are untrusted code: each must compile under the sandbox rules."""
    for script_task in root.iter(f"{{{BPMN}}}scriptTask"):
        script = script_task.find(f"{{{BPMN}}}script")
        if script is not None:
            yield from _code(name, script_task, script.text, "exec", "the script", script.sourceline)
    for tag in ("preScript", "postScript"):
        for found in root.iter(f"{{{SPIFF}}}{tag}"):
            owner = found.getparent().getparent()
            yield from _code(name, owner, found.text, "exec", f"the {tag}", found.sourceline)
    for flow in root.iter(f"{{{BPMN}}}sequenceFlow"):
        condition = flow.find(f"{{{BPMN}}}conditionExpression")
        if condition is not None:
            yield from _code(name, flow, condition.text, "eval", "the condition", condition.sourceline)
    for task in root.iter(f"{{{BPMN}}}userTask"):
        props = _properties(task)
        for prop in ("dueDate", "candidateGroup"):
            yield from _code(name, task, props.get(prop), "eval", f"the {prop} expression")
    for param in root.iter(f"{{{SPIFF}}}parameter"):
        owner = param.getparent()
        while owner is not None and _local(owner) not in FLOW_NODES:
            owner = owner.getparent()
        yield from _code(name, owner if owner is not None else param, param.get("value"), "eval",
                         f"the parameter '{param.get('id')}'", param.sourceline)
    for cell in root.iter():
        if _local(cell) in ("outputEntry", "inputExpression"):
            yield from _code(name, cell, cell.findtext("{*}text"), "eval", "the DMN cell", cell.sourceline)
    for table in root.iter("{*}decisionTable"):
        yield from _check_input_entries(name, table)


def _check_input_entries(name: str, table: etree._Element) -> Iterable[Problem]:
    """Condition cells such as `< 500000` run as `(input) < 500000`: compile them as the engine will."""
    inputs = [(i.get("label") or i.get("id") or "", i.findtext("{*}inputExpression/{*}text") or "")
              for i in table if _local(i) == "input"]
    rules = [r for r in table if _local(r) == "rule"]
    for number, rule in enumerate(rules, start=1):
        entries = [e for e in rule if _local(e) == "inputEntry"]
        for (label, expression), entry in zip(inputs, entries, strict=False):
            text = (entry.findtext("{*}text") or "").strip()
            if not text or text == "-" or not expression.strip():
                continue
            yield from _code(name, entry, input_entry_expression(expression.strip(), text), "eval",
                             f"rule {number}, column '{label}': the condition", entry.sourceline)


def _check_supported(name: str, root: etree._Element) -> Iterable[Problem]:
    """Constructs the engine cannot run are refused with what to draw instead (foreign_models)."""
    for element, why in foreign_models.unsupported(root):
        yield _problem(name, element, why)


def _check_references(name: str, root: etree._Element) -> Iterable[Problem]:
    ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    for flow in root.iter(f"{{{BPMN}}}sequenceFlow"):
        for end in ("sourceRef", "targetRef"):
            ref = flow.get(end)
            if not ref or ref not in ids:
                where = "starts at" if end == "sourceRef" else "leads to"
                yield _problem(name, flow, f"the sequence flow {_label(flow)} {where} '{ref or ''}', which "
                                           "does not exist; connect both ends")


@functools.cache
def _schema() -> etree.XMLSchema:
    """The BPMN 2.0 XML schema, loaded once on first use (it takes a while to compile)."""

    return BpmnValidator().validator


def _check_schema(name: str, root: etree._Element) -> Iterable[Problem]:
    """The process part of the file against the BPMN 2.0 XML schema (the diagram layout is not checked)."""

    model = copy.deepcopy(root)
    for diagram in model.findall("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNDiagram"):
        model.remove(diagram)
    schema = _schema()
    if schema.validate(model):
        return
    for error in list(schema.error_log)[:20]:
        element_id = None
        try:
            found = model.getroottree().xpath(error.path) if error.path else []
            element_id = found[0].get("id") if found else None
        except etree.XPathError:
            element_id = None
        message = error.message.replace(f"{{{BPMN}}}", "bpmn:").replace(f"{{{SPIFF}}}", "spiffworkflow:")
        yield Problem(element_id, name, error.line, f"not valid BPMN 2.0: {message}", ERROR, SCHEMA)


def _children(container: etree._Element) -> list[etree._Element]:
    return [c for c in container if _local(c) in FLOW_NODES]


def _check_reachable(name: str, container: etree._Element) -> Iterable[Problem]:
    nodes = {n.get("id"): n for n in _children(container)}
    if not nodes:
        return
    flows = [f for f in container if _local(f) == "sequenceFlow"]
    outgoing: dict[str, list[str]] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    boundary: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        if _local(node) == "boundaryEvent":
            boundary.setdefault(node.get("attachedToRef"), []).append(node_id)
    roots = [i for i, n in nodes.items() if _local(n) == "startEvent"]
    roots += [i for i, n in nodes.items() if _local(n) in _CONTAINERS and n.get("triggeredByEvent") == "true"]
    # a catching link event continues a path drawn elsewhere on the page
    roots += [i for i, n in nodes.items() if _local(n) == "intermediateCatchEvent"
              and n.find(f"{{{BPMN}}}linkEventDefinition") is not None]
    is_process = _local(container) == "process"
    if not [i for i in roots if _local(nodes[i]) == "startEvent"] and is_process:
        if container.get("isExecutable") == "true":
            yield _problem(name, container, f"the process {_label(container)} has no start event")
        return
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current in seen or current not in nodes:
            continue
        seen.add(current)
        todo.extend(outgoing.get(current, []))
        todo.extend(boundary.get(current, []))
    for node_id, node in nodes.items():
        if node_id in seen:
            if _local(node) in _CONTAINERS and _local(node) != "adHocSubProcess":  # refused as unsupported
                yield from _check_reachable(name, node)
            continue
        if node.get("isForCompensation") == "true":
            continue  # a compensation handler has no incoming flow; it is refused as unsupported
        yield _problem(name, node, f"{_label(node)} cannot be reached from a start event; connect it with a "
                                   "sequence flow or remove it")


def check_trees(trees: dict[str, etree._Element], lane_groups: dict[str, str]) -> list[Problem]:
    """Every modelling problem these checks find in the parsed files, in file and line order."""
    problems: list[Problem] = []
    for name, root in sorted(trees.items()):
        problems.extend(_check_code(name, root))
        if not name.lower().endswith(".bpmn"):
            continue
        if etree.QName(root).namespace != BPMN or _local(root) != "definitions":
            problems.append(Problem(None, name, root.sourceline, "this is not a BPMN 2.0 file (bpmn:definitions)"))
            continue
        problems.extend(_check_schema(name, root))
        problems.extend(_check_supported(name, root))
        problems.extend(_check_references(name, root))
        problems.extend(_check_lanes(name, root, lane_groups))
        problems.extend(_check_user_tasks(name, root))
        problems.extend(_check_timers(name, root))
        problems.extend(_check_gateways(name, root))
        for process in root.iter(f"{{{BPMN}}}process"):
            problems.extend(_check_reachable(name, process))
        try:
            connect_links(root)
        except LinkProblem as err:
            problems.append(_problem(name, err.element, str(err)))
    return sorted(problems, key=lambda p: (p.file_name or "", p.line or 0, p.element_id or ""))


def _check_files_here(files: dict[str, bytes], lane_groups: dict[str, str]) -> list[Problem]:
    trees, problems = parse_files(files)
    return problems + check_trees(trees, lane_groups)


def check_files(files: dict[str, bytes], lane_groups: dict[str, str]) -> list[Problem]:
    """Unsafe or broken XML first; then the modelling checks on the files that could be read.

    The checks compile every piece of model code, so they run in an engine worker (isolation).
    """
    return _isolated(_check_files_here, files, lane_groups)


@dataclass(frozen=True)
class FormUse:
    """A user task that names a form."""

    file_name: str
    element_id: str | None
    name: str | None
    line: int | None


@dataclass(frozen=True)
class Review:
    """What the designer's validation needs from a draft's files, read in one pass in a worker."""

    problems: list[Problem]
    process_ids: list[str]
    form_uses: dict[str, list[FormUse]]
    files_read: int = 0  # files that are safe, well-formed XML


def _review_here(files: dict[str, bytes], lane_groups: dict[str, str]) -> Review:
    trees, problems = parse_files(files)
    problems += check_trees(trees, lane_groups)
    uses = {key: [FormUse(file_name, task.get("id"), task.get("name"), task.sourceline) for file_name, task in found]
            for key, found in form_keys(trees).items()}
    return Review(problems, process_ids(trees), uses, len(trees))


def review_files(files: dict[str, bytes], lane_groups: dict[str, str]) -> Review:
    """Every problem in the files, the executable processes and the forms the user tasks name."""
    try:
        return isolation.run(_review_here, files, lane_groups)
    except Exception as err:  # noqa: BLE001 - only a stopped worker is caught; others re-raise below
        killed = _killed_problem(err)
        if killed is None:
            raise
        return Review([killed], [], {})


def _code_problems_here(files: dict[str, bytes]) -> list[Problem]:
    trees, problems = parse_files(files)
    return problems + [p for p in check_trees(trees, {}) if p.rule == CODE]


def refused_problems(files: dict[str, bytes]) -> list[Problem]:
    """Unsafe XML and code the sandbox refuses (or that cannot be compiled within the limits)."""
    return _isolated(_code_problems_here, files)


def _killed_problem(err: BaseException) -> Problem | None:
    if not isinstance(err, StepKilled):
        return None
    label, why = isolation.stopped_at(str(err))
    where = f" at {label}" if label else ""
    return Problem(isolation.element_id(label), None, None, f"the checks were stopped{where}: {why}", ERROR, CODE)


def _isolated(func: Any, *args: Any) -> list[Problem]:
    try:
        return isolation.run(func, *args)
    except Exception as err:  # noqa: BLE001 - only a stopped worker is caught; others re-raise below
        killed = _killed_problem(err)
        if killed is None:
            raise
        return [killed]


def form_keys(trees: dict[str, etree._Element]) -> dict[str, list[tuple[str, etree._Element]]]:
    """The forms the user tasks name: form key -> [(file, user task element)]."""
    found: dict[str, list[tuple[str, etree._Element]]] = {}
    for name, root in sorted(trees.items()):
        for task in root.iter(f"{{{BPMN}}}userTask"):
            key = _properties(task).get("formKey", "").strip()
            if key:
                found.setdefault(key, []).append((name, task))
    return found


def process_ids(trees: dict[str, etree._Element]) -> list[str]:
    """The ids of the executable processes in the files (candidates for the process key)."""
    return [p.get("id") for root in trees.values() for p in root.iter(f"{{{BPMN}}}process")
            if p.get("isExecutable") == "true"]
